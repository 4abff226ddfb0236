"""A real SMTP server for tests: aiosmtpd, plain, STARTTLS or implicit TLS."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.services import free_port

USERNAME, PASSWORD = "mailer", "app-specific-password"


@dataclass
class Received:
    """What the server accepted: envelope recipients and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


@dataclass
class LocalCA:
    ca: trustme.CA
    ca_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


def make_ca(directory: Path) -> LocalCA:
    ca = trustme.CA()
    path = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return LocalCA(ca, path)


@contextmanager
def smtp_server(mode: str, ca: LocalCA | None = None) -> Iterator[tuple[int, Inbox]]:
    """Run a server in ``mode`` plain, starttls or ssl; yield its port and inbox."""
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if mode == "starttls":
        assert ca is not None
        options.update(
            tls_context=ca.server_context(),
            require_starttls=True,
            authenticator=inbox.authenticate,
            auth_required=True,
        )
    elif mode == "ssl":
        assert ca is not None
        options.update(ssl_context=ca.server_context())
    controller = Controller(inbox, **options)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
