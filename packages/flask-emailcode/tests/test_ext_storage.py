"""EMAILCODE_STORAGE_URI: SQL, the app's Flask-SQLAlchemy db, Redis; what two processes share."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from flask import Flask

from _helpers import make_app
from flask_emailcode import EmailCode, StoreUnavailable, TooSoon


def send_in_another_process(uri: str, to: str) -> None:
    script = textwrap.dedent(
        f"""
        from flask import Flask
        from flask_emailcode import EmailCode
        app = Flask("other")
        app.config.update(SECRET_KEY="test-secret-key-of-enough-length",
                          EMAILCODE_STORAGE_URI={uri!r}, EMAILCODE_LIMIT_PER_ADDRESS="2/hour")
        emailcode = EmailCode(app, sender=lambda mail: None)
        with app.test_request_context():
            emailcode.send("sign_up", to={to!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_another_process_sees_the_same_cooldown_and_budgets(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = (
        f"sqlite:///{tmp_path / 'codes.sqlite3'}"
        if kind == "sqlite"
        else request.getfixturevalue("redis_url")
    )
    send_in_another_process(uri, "a@example.com")
    app = make_app(EMAILCODE_STORAGE_URI=uri, EMAILCODE_LIMIT_PER_ADDRESS="2/hour")
    emailcode = EmailCode(app, sender=lambda mail: None)
    with app.test_request_context():
        with pytest.raises(TooSoon) as cooling:
            emailcode.send("sign_up", to="a@example.com")
        assert cooling.value.scope == "cooldown"
        emailcode.send("reset_password", to="a+tag@example.com")
        # The other process's code and this one spent the mailbox's two.
        with pytest.raises(TooSoon) as spent:
            emailcode.send("log_in", to="A@example.com")
    assert spent.value.scope == "per_address"
    assert spent.value.retry_after > 3500


def test_the_apps_flask_sqlalchemy_db_holds_the_tables() -> None:
    from flask_sqlalchemy import SQLAlchemy

    db = SQLAlchemy()
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite://")
    db.init_app(app)
    emailcode = EmailCode(app)
    assert {"emailcode_codes", "emailcode_failures", "emailcode_limit_hits"} <= set(
        db.metadata.tables
    )
    with app.app_context():
        db.create_all()
        with app.test_request_context(), emailcode.capture() as outbox:
            emailcode.send("sign_up", to="a@example.com")
            assert emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code)
        stored = db.session.execute(db.text("SELECT digest FROM emailcode_codes")).scalars().all()
    assert stored == [""]  # spent: not even the digest stays


def test_sqlalchemy_uri_without_flask_sqlalchemy_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="Flask-SQLAlchemy"):
        EmailCode(make_app(EMAILCODE_STORAGE_URI="sqlalchemy://"))


def test_a_key_prefix_keeps_two_apps_apart_in_one_redis(redis_url: str) -> None:
    apps: list[tuple[Flask, EmailCode]] = []
    for prefix in ("one", "two"):
        app = make_app(EMAILCODE_STORAGE_URI=redis_url, EMAILCODE_KEY_PREFIX=prefix)
        apps.append((app, EmailCode(app)))
    for app, emailcode in apps:
        with app.test_request_context(), emailcode.capture():
            emailcode.send("sign_up", to="a@example.com")  # no cooldown from the other app
    client = redis.Redis.from_url(redis_url)
    keys = {key.decode().split(":")[0].split("/")[0] for key in client.scan_iter()}
    assert {"one", "two"} <= keys
    assert all(key in {"one", "two", "LIMITS"} for key in keys), keys


def test_an_unknown_storage_uri_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="EMAILCODE_STORAGE_URI"):
        EmailCode(make_app(EMAILCODE_STORAGE_URI="codes-in-a-drawer"))


def test_an_unreachable_redis_answers_503(tmp_path: Path) -> None:
    from _services import free_port

    app = make_app(EMAILCODE_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    emailcode = EmailCode(app)

    @app.post("/code")
    def code() -> dict[str, object]:
        return emailcode.send("sign_up", to="a@example.com").as_dict()

    with emailcode_capture(app, emailcode):
        answer = app.test_client().post("/code")
    assert answer.status_code == 503
    assert answer.json["code"] == 503


def emailcode_capture(app: Flask, emailcode: EmailCode):  # type: ignore[no-untyped-def]
    from contextlib import ExitStack

    stack = ExitStack()
    stack.enter_context(app.app_context())
    stack.enter_context(emailcode.capture())
    return stack


def test_an_app_hands_over_its_own_redis_client_and_sql_tables(
    redis_url: str, tmp_path: Path
) -> None:
    from limits.storage import storage_from_string
    from sqlalchemy import MetaData, create_engine, inspect

    from flask_emailcode.storage import redis_backend, sql_backend

    client = redis.Redis.from_url(redis_url)
    backend = redis_backend(client, limits=storage_from_string(redis_url), prefix="own")
    engine = create_engine(f"sqlite:///{tmp_path / 'own.sqlite3'}")
    tables = sql_backend(
        engine, MetaData(), create=True, names={"codes": "old_codes", "failures": "old_failures"}
    )
    assert {"old_codes", "old_failures", "emailcode_limit_hits"} <= set(
        inspect(engine).get_table_names()
    )
    for handed in (backend, tables):
        app = make_app()
        emailcode = EmailCode(app, storage=handed)
        with app.test_request_context(), emailcode.capture() as outbox:
            emailcode.send("sign_up", to="a@example.com")
            with pytest.raises(TooSoon):
                emailcode.send("sign_up", to="a@example.com")
            assert emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code)
    assert any(key.startswith(b"own:") for key in client.scan_iter())
    client.close()
    engine.dispose()


def test_redis_sentinel_uri_finds_the_master(tmp_path: Path) -> None:
    from _services import Sentinel

    sentinel = Sentinel(str(tmp_path))
    try:
        uri = f"redis+sentinel://127.0.0.1:{sentinel.port}/main"
        app = make_app(EMAILCODE_STORAGE_URI=uri, EMAILCODE_LIMIT_PER_ADDRESS="1/hour")
        emailcode = EmailCode(app)
        with app.test_request_context(), emailcode.capture() as outbox:
            emailcode.send("sign_up", to="a@example.com")
            with pytest.raises(TooSoon) as spent:
                emailcode.send("log_in", to="a@example.com")
            assert spent.value.scope == "per_address"  # budgets there too
            assert emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code)
        master = redis.Redis(port=sentinel.master_port)
        assert any(key.startswith(b"emailcode:") for key in master.scan_iter())
        master.close()
    finally:
        sentinel.stop()


def test_rediss_uri_checks_the_servers_certificate(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import time

    import trustme

    from _services import free_port, missing

    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server is not installed")
    assert binary is not None
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    issued.private_key_pem.write_to_path(str(tmp_path / "redis.key"))
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "redis.crt"))
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--tls-cert-file", str(tmp_path / "redis.crt"), "--tls-key-file",
         str(tmp_path / "redis.key"), "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
         "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        trusted = {"ssl_ca_certs": str(tmp_path / "ca.pem")}
        uri = f"rediss://localhost:{port}/0"
        client = redis.Redis.from_url(uri, **trusted)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.RedisError:
                time.sleep(0.05)
        app = make_app(EMAILCODE_STORAGE_URI=uri, EMAILCODE_STORAGE_OPTIONS=trusted)
        emailcode = EmailCode(app)
        with app.test_request_context(), emailcode.capture() as outbox:
            emailcode.send("sign_up", to="a@example.com")
            assert emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code)
        assert any(key.startswith(b"emailcode:") for key in client.scan_iter())
        client.close()
        # Without the CA, the certificate is not trusted and nothing is stored.
        untrusted = make_app(EMAILCODE_STORAGE_URI=uri)
        refusing = EmailCode(untrusted)
        with untrusted.test_request_context(), refusing.capture(), pytest.raises(StoreUnavailable):
            refusing.send("sign_up", to="b@example.com")
    finally:
        server.terminate()
        server.wait(timeout=10)
