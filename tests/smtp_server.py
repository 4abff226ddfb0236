"""A real SMTP server for tests: aiosmtpd, plain, STARTTLS or implicit TLS."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import time
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
    # The bytes as they arrived, for checks (a DKIM signature) that parsing would alter.
    raw: bytes = b""


@dataclass
class Inbox:
    """What the server accepted, and how it should answer.

    ``data_replies`` are used up one per DATA (then 250 OK); ``rcpt_reply``
    answers every RCPT; ``data_delay`` holds each DATA answer back that long.
    """

    received: list[Received] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_delay: float = 0.0
    sessions: int = 0
    attempts: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if not getattr(session, "counted", False):
            session.counted = True
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_replies:
            return self.data_replies.pop(0)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, envelope.original_content)
        )
        self.received_at.append(time.monotonic())
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
        # handled=False: the server answers a failure itself (535), as real ones do.
        return AuthResult(success=ok, handled=False)


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
def smtp_server(
    mode: str, ca: LocalCA | None = None, *, port: int | None = None, inbox: Inbox | None = None
) -> Iterator[tuple[int, Inbox]]:
    """Run a server in ``mode`` plain, starttls or ssl; yield its port and inbox."""
    inbox = inbox or Inbox()
    port = port or free_port()
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
