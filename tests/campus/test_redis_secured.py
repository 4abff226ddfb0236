"""Redis as managed services offer it: a password, an ACL user, TLS, and Sentinel with passwords.

Each runs a real ``redis-server`` started that way, a real worker and a real
SMTP server: a code is requested, mailed by the worker, and changes the email.
So every connection the app makes (codes, statuses, limits, the queue, the
heartbeat, /healthz) goes through the credentials and the certificate checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.helpers import last_code
from tests.queue_worker import Worker, queue_settings, settled, staff_client, wait_until
from tests.redis_process import RedisProcess
from tests.sentinel_cluster import SentinelCluster
from tests.smtp_server import Inbox, LocalCA, make_ca

PASSWORD = "s3cret/with:odd@chars"
NEW = "secured.person@example.com"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def ca(tmp_path: Path) -> LocalCA:
    return make_ca(tmp_path)


def serve(process: RedisProcess) -> Iterator[RedisProcess]:
    try:
        yield process.start()
    finally:
        process.close()


def requested_mailed_and_changed(
    make_app: Callable[..., Flask],
    settings: dict[str, Any],
    inbox: Inbox,
    tmp_path: Path,
) -> None:
    """The whole change-email flow through the queue, limits counted, status followed."""
    app = make_app(**settings, EMAILCODE_LIMIT_PER_ACCOUNT="1/hour")
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff_client(app)
        assert wait_until(lambda: api.client.get("/healthz").status_code == 200, 15), (
            api.client.get("/healthz").get_json()
        )
        response = api.post("/cms/email_captcha", {"email": NEW})
        assert response.status_code == 200, response.get_json()
        assert settled(api, response.get_json()["data"]["delivery"]) == "sent"
        # The limit is counted in the same Redis: the second request is refused.
        again = api.post("/cms/email_captcha", {"email": "other@example.com"})
        assert again.status_code == 429
        changed = api.post("/cms/resetemail", {"email": NEW, "captcha": last_code(inbox, NEW)})
        assert changed.status_code == 200, changed.get_json()
    finally:
        worker.stop()


@pytest.mark.redis
def test_a_password_protected_redis(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    for server in serve(RedisProcess(password=PASSWORD)):
        assert server.url.startswith("redis://:s3cret%2Fwith%3Aodd%40chars@")
        settings = queue_settings(smtp[0], REDIS_URL=server.url)
        requested_mailed_and_changed(make_app, settings, smtp[1], tmp_path)


@pytest.mark.redis
def test_an_acl_user_with_its_own_password(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    # The default user is off: only "campus" with its password gets in.
    for server in serve(RedisProcess(username="campus", password="campus-pass")):
        assert server.url.startswith("redis://campus:campus-pass@")
        settings = queue_settings(smtp[0], REDIS_URL=server.url)
        requested_mailed_and_changed(make_app, settings, smtp[1], tmp_path)


@pytest.mark.redis
def test_redis_over_tls_with_a_private_ca(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path, ca: LocalCA
) -> None:
    for server in serve(RedisProcess(password=PASSWORD, tls=ca)):
        assert server.url.startswith("rediss://:")
        settings = queue_settings(smtp[0], REDIS_URL=server.url, REDIS_CA_FILE=str(ca.ca_file))
        requested_mailed_and_changed(make_app, settings, smtp[1], tmp_path)


@pytest.mark.redis
def test_sentinel_with_passwords_for_the_sentinels_and_the_master(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    cluster = SentinelCluster(tmp_path, password="master-pass", sentinel_password="sentinel-pass")
    try:
        cluster.start()
        settings = queue_settings(smtp[0], **cluster.settings)
        requested_mailed_and_changed(make_app, settings, smtp[1], tmp_path)
    finally:
        cluster.close()


def redis_check(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["redis", "check"])
    return result.exit_code, result.output


def direct(make_app: Callable[..., Flask], **settings: Any) -> Flask:
    """An app on that Redis without the queue: /healthz then waits for no worker."""
    return make_app(**settings, MAIL_DELIVERY="direct")


def healthz_redis(app: Flask) -> tuple[int, str]:
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()["data"]["redis"]


@pytest.mark.redis
def test_a_wrong_password_is_named_by_healthz_and_the_check(
    make_app: Callable[..., Flask],
) -> None:
    for server in serve(RedisProcess(password=PASSWORD)):
        wrong = direct(make_app, REDIS_URL=f"redis://:not-it@127.0.0.1:{server.port}/0")
        assert healthz_redis(wrong) == (503, "error: password refused")
        code, said = redis_check(wrong)
        assert code == 1
        assert "refused the password" in said and "REDIS_URL" in said
        right = direct(make_app, REDIS_URL=server.url)
        assert healthz_redis(right) == (200, "ok")
        assert redis_check(right) == (0, _took_writes(right))


@pytest.mark.redis
def test_an_untrusted_or_plain_text_connection_is_named(
    make_app: Callable[..., Flask], ca: LocalCA
) -> None:
    for server in serve(RedisProcess(tls=ca)):
        untrusted = direct(make_app, REDIS_URL=server.url)  # no REDIS_CA_FILE: the system store
        assert healthz_redis(untrusted) == (503, "error: certificate not trusted")
        code, said = redis_check(untrusted)
        assert code == 1 and "REDIS_CA_FILE" in said
        plain = direct(make_app, REDIS_URL=server.url.replace("rediss://", "redis://"))
        assert healthz_redis(plain) == (503, "error: server expects TLS")
        assert "rediss://" in redis_check(plain)[1]
        trusted = direct(make_app, REDIS_URL=server.url, REDIS_CA_FILE=str(ca.ca_file))
        assert healthz_redis(trusted) == (200, "ok")


@pytest.mark.redis
def test_a_wrong_sentinel_password_is_named(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    cluster = SentinelCluster(tmp_path, password="master-pass", sentinel_password="sentinel-pass")
    try:
        cluster.start()
        wrong = direct(make_app, **{**cluster.settings, "REDIS_SENTINEL_PASSWORD": "not-it"})
        assert healthz_redis(wrong) == (503, "error: password refused")
        code, said = redis_check(wrong)
        assert code == 1 and "sentinel" in said and "REDIS_SENTINEL_PASSWORD" in said
        master_wrong = direct(make_app, **{**cluster.settings, "REDIS_MASTER_PASSWORD": "not-it"})
        assert healthz_redis(master_wrong) == (503, "error: password refused")
        assert "master" in redis_check(master_wrong)[1]
        right = direct(make_app, **cluster.settings)
        assert redis_check(right) == (0, _took_writes(right))
    finally:
        cluster.close()


def _took_writes(app: Flask) -> str:
    return "Redis answers and takes writes: codes, limits and the queue can use it.\n"


@pytest.mark.redis
def test_sentinel_over_tls_with_passwords(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path, ca: LocalCA
) -> None:
    cluster = SentinelCluster(
        tmp_path, password="master-pass", sentinel_password="sentinel-pass", tls=ca
    )
    try:
        cluster.start()
        settings = queue_settings(smtp[0], **cluster.settings)
        assert settings["REDIS_SENTINEL_TLS"] == "true"
        requested_mailed_and_changed(make_app, settings, smtp[1], tmp_path)
        # Without the CA, the sentinels' certificates are not trusted: named so.
        untrusted = direct(make_app, **{**cluster.settings, "REDIS_CA_FILE": ""})
        assert healthz_redis(untrusted) == (503, "error: certificate not trusted")
    finally:
        cluster.close()
