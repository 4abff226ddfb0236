"""DKIM: messages arrive signed, the signature verifies against the published record,
and the record is what ``flask --app campus mail dkim-record`` prints."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask

from campus.settings import ConfigError
from tests.app_fixtures import add_staff
from tests.helpers import Api, log_in
from tests.queue_worker import QUEUE_SETTINGS, Worker, wait_until
from tests.smtp_server import Inbox

DOMAIN, SELECTOR = "campus.example", "mail2026"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def write_key(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return write_key(tmp_path_factory.mktemp("dkim") / "dkim.pem", key)


def dkim_settings(key_file: Path, port: int) -> dict[str, Any]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_DEFAULT_SENDER": f"Campus Forum <no-reply@{DOMAIN}>",
        "MAIL_DKIM_DOMAIN": DOMAIN,
        "MAIL_DKIM_SELECTOR": SELECTOR,
        "MAIL_DKIM_KEY_FILE": str(key_file),
    }


def published(app: Flask) -> tuple[str, bytes]:
    """The record's name and its TXT value, taken from the CLI's output as DNS would serve it."""
    result = app.test_cli_runner().invoke(args=["mail", "dkim-record"])
    assert result.exit_code == 0, result.output
    name = result.output.split()[0]
    value = "".join(re.findall(r'"([^"]*)"', result.output))
    return name, value.encode("ascii")


def verifies(message: bytes, app: Flask) -> bool:
    name, value = published(app)

    def dns(queried: bytes, timeout: int = 5) -> bytes | None:
        return value if queried.decode().rstrip(".") == name.rstrip(".") else None

    return bool(dkim.verify(message, dnsfunc=dns))


def ask_code(app: Flask, to: str) -> None:
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    answer = api.post("/cms/email_captcha", {"email": to})
    assert answer.status_code == 200, answer.get_json()


def test_a_directly_sent_message_is_signed_and_verifies(
    make_app: Callable[..., Flask], key_file: Path, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    app = make_app(**dkim_settings(key_file, port))
    ask_code(app, "new@example.edu")
    raw = inbox.received[0].raw
    assert raw.startswith(b"DKIM-Signature: ")
    tags = inbox.received[0].message["DKIM-Signature"]
    assert f"d={DOMAIN}" in tags and f"s={SELECTOR}" in tags and "c=relaxed/relaxed" in tags
    signed = re.search(r"h=([^;]+)", str(tags)).group(1).replace(" ", "").split(":")  # type: ignore[union-attr]
    assert {"from", "to", "subject", "date", "message-id"} <= set(signed)
    assert verifies(raw, app)
    # One byte of the body changed: the body hash no longer matches.
    head, _, body = raw.partition(b"\r\n\r\n")
    at = body.index(b"text/html") + 1  # in the body, past every signed header
    tampered = head + b"\r\n\r\n" + body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]
    assert not verifies(tampered, app)
    # A header that was signed, changed: refused too.
    assert not verifies(raw.replace(b"To: new@example.edu", b"To: old@example.edu"), app)


def test_the_worker_signs_what_it_sends(
    make_app: Callable[..., Flask],
    key_file: Path,
    smtp: tuple[int, Inbox],
    redis_url: str,
    tmp_path: Path,
) -> None:
    port, inbox = smtp
    settings = {**dkim_settings(key_file, port), "REDIS_URL": redis_url, **QUEUE_SETTINGS}
    app = make_app(**settings)
    worker = Worker(tmp_path, settings).start()
    try:
        ask_code(app, "queued@example.edu")
        assert wait_until(lambda: len(inbox.received) == 1, 20), worker.log()
    finally:
        worker.stop()
    assert verifies(inbox.received[0].raw, app)


def test_without_dkim_nothing_is_signed_and_the_record_command_says_so(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    ask_code(app, "new@example.edu")
    assert b"DKIM-Signature" not in inbox.received[0].raw
    result = app.test_cli_runner().invoke(args=["mail", "dkim-record"])
    assert result.exit_code != 0 and "DKIM is off" in result.output


def test_the_record_is_the_keys_public_half(make_app: Callable[..., Flask], key_file: Path) -> None:
    app = make_app(**dkim_settings(key_file, 25))
    name, value = published(app)
    assert name == f"{SELECTOR}._domainkey.{DOMAIN}."
    public = serialization.load_pem_private_key(key_file.read_bytes(), None).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    assert value == b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.mark.parametrize(
    "change, error",
    [
        ({"MAIL_DKIM_SELECTOR": None}, "needs all of"),
        ({"MAIL_DKIM_DOMAIN": "campus.example\r\nBcc: x@y"}, "plain DNS names"),
        ({"MAIL_DKIM_KEY_FILE": "/nonexistent/key.pem"}, "cannot be read"),
        ({"MAIL_DKIM_KEY_FILE": "ec"}, "RSA key"),
        ({"MAIL_DKIM_KEY_FILE": "garbage"}, "no unencrypted PEM"),
    ],
)
def test_bad_dkim_settings_stop_the_start(
    make_app: Callable[..., Flask],
    key_file: Path,
    tmp_path: Path,
    change: dict[str, Any],
    error: str,
) -> None:
    settings = dkim_settings(key_file, 25) | change
    if settings["MAIL_DKIM_KEY_FILE"] == "ec":
        ec_key = ec.generate_private_key(ec.SECP256R1())
        settings["MAIL_DKIM_KEY_FILE"] = str(write_key(tmp_path / "ec.pem", ec_key))
    elif settings["MAIL_DKIM_KEY_FILE"] == "garbage":
        (tmp_path / "bad.pem").write_text("not a key")
        settings["MAIL_DKIM_KEY_FILE"] = str(tmp_path / "bad.pem")
    settings = {k: v for k, v in settings.items() if v is not None}
    with pytest.raises(ConfigError, match=error):
        make_app(**settings)


def test_openssl_signs_byte_for_byte_what_dkimpy_alone_would(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from campus.mail import signing

    signer = signing.Signer(domain=DOMAIN, selector=SELECTOR, key_pem=key_file.read_bytes())
    message = (
        f"From: Campus Forum <no-reply@{DOMAIN}>\r\nTo: someone@example.com\r\n"
        "Subject: a code\r\nDate: Fri, 04 Dec 2026 03:00:00 +0000\r\n\r\nABC123\r\n"
    ).encode()
    monkeypatch.setattr(dkim.time, "time", lambda: 1_900_000_000)  # the t= tag, both times
    pure_parse, pure_sign = signing._PURE_PARSE, signing._PURE_SIGN

    def refused(*_: object) -> None:
        raise AssertionError("the signer's key took dkimpy's pure-Python path")

    monkeypatch.setattr(signing, "_PURE_PARSE", refused)
    monkeypatch.setattr(signing, "_PURE_SIGN", refused)
    fast = signer.sign(message)
    # dkimpy on its own: its PEM parser and its pure-Python RSA.
    monkeypatch.setattr(dkim, "parse_pem_private_key", pure_parse)
    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", pure_sign)
    slow = signer.sign(message)
    assert fast == slow
    assert b"b=" in fast.split(b"\r\n\r\n")[0]


def test_a_key_dkimpy_was_not_handed_through_the_signer_takes_its_own_path(
    tmp_path: Path,
) -> None:
    from campus.mail import signing

    other = write_key(
        tmp_path / "other.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    message = f"From: a@{DOMAIN}\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n".encode()
    header = dkim.sign(message, b"s", DOMAIN.encode(), other.read_bytes())
    assert header.startswith(b"DKIM-Signature:")
    assert other.read_bytes() not in signing._KEYS
