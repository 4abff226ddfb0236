"""Mail through a real SMTP server (aiosmtpd): plain, STARTTLS and implicit TLS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.app_fixtures import add_staff
from tests.helpers import Api, last_code, log_in
from tests.smtp_server import PASSWORD, USERNAME, LocalCA, make_ca, smtp_server

NEW = "new@example.com"
SENDER = "Campus Forum <no-reply@campus.example>"


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


def mail_settings(mode: str, port: int, ca_file: Path | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_DEFAULT_SENDER": SENDER,
        "MAIL_TIMEOUT": 5,
        "MAIL_USE_TLS": mode == "starttls",
        "MAIL_USE_SSL": mode == "ssl",
    }
    if mode == "starttls":
        settings.update(MAIL_USERNAME=USERNAME, MAIL_PASSWORD=PASSWORD)
    if ca_file is not None:
        settings["MAIL_CA_FILE"] = str(ca_file)
    return settings


@pytest.mark.parametrize("mode", ["plain", "starttls", "ssl"])
def test_code_travels_through_a_real_smtp_server(
    make_app: Callable[..., Flask], test_ca: LocalCA, mode: str
) -> None:
    with smtp_server(mode, test_ca) as (port, inbox):
        app = make_app(**mail_settings(mode, port, test_ca.ca_file))
        api = Api(app.test_client())
        log_in(add_staff(app, "staff@example.com"), api)
        sent = api.post("/cms/email_captcha", {"email": NEW})
        assert sent.status_code == 200, sent.get_json()
        assert len(inbox.received) == 1
        received = inbox.received[0]
        assert received.rcpt_tos == [NEW]
        assert received.message["To"] == NEW
        assert received.message["From"] == SENDER
        if mode == "starttls":
            assert inbox.logins == [USERNAME]
        done = api.post("/cms/resetemail", {"email": NEW, "captcha": last_code(inbox)})
        assert done.status_code == 200, done.get_json()


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_a_certificate_the_client_does_not_trust_is_refused(
    make_app: Callable[..., Flask], test_ca: LocalCA, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    with smtp_server(mode, test_ca) as (port, inbox):
        # No CA file: only the system's trust store, which has never heard of the test CA.
        app = make_app(**mail_settings(mode, port, None))
        api = Api(app.test_client())
        log_in(add_staff(app, "staff@example.com"), api)
        response = api.post("/cms/email_captcha", {"email": NEW})
        assert response.status_code == 503
        assert inbox.received == []
        assert "SSLCertVerificationError" in caplog.text


def test_a_certificate_for_another_host_is_refused(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    other = make_ca(tmp_path)
    with smtp_server("ssl", other) as (port, inbox):
        settings = mail_settings("ssl", port, other.ca_file)
        settings["MAIL_SERVER"] = "127.0.0.2"  # the certificate names 127.0.0.1 and localhost
        app = make_app(**settings)
        api = Api(app.test_client())
        log_in(add_staff(app, "staff@example.com"), api)
        assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 503
        assert inbox.received == []
