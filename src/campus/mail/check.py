"""``flask --app campus mail check``: try the SMTP settings and name what is wrong.

Each step an SMTP session takes (connect, TLS, greeting, log in, sender, a
test message) is tried as the app will try it, with the same verifying TLS
context. The first failure is turned into a ``Problem``: one kind, from which
the command prints one sentence of cause and fix.
"""

from __future__ import annotations

import enum
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import TypeVar

from campus.mail.messages import message_id
from campus.mail.smtp import tls_context

T = TypeVar("T")


class Kind(enum.Enum):
    NOT_CONFIGURED = "not_configured"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    EXPECTS_SSL = "expects_ssl"  # implicit TLS port, plain client
    NOT_SSL = "not_ssl"  # plain (STARTTLS) port, implicit TLS client
    NO_STARTTLS = "no_starttls"
    TLS_REQUIRED = "tls_required"
    UNTRUSTED = "untrusted"
    WRONG_NAME = "wrong_name"
    TLS_FAILED = "tls_failed"
    AUTH_FAILED = "auth_failed"
    NO_AUTH = "no_auth"
    SENDER_REFUSED = "sender_refused"
    RECIPIENT_REFUSED = "recipient_refused"
    REFUSED_MESSAGE = "refused_message"


@dataclass(frozen=True)
class Settings:
    """The SMTP settings the app sends with."""

    host: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str | None
    password: str | None
    sender: str
    timeout: float
    ca_file: str | None


@dataclass
class Problem(Exception):
    """What went wrong, with the values the sentence about it names."""

    kind: Kind
    details: dict[str, str] = field(default_factory=dict)


@dataclass
class Report:
    """What worked."""

    steps: list[str] = field(default_factory=list)


def check(settings: Settings, *, send_to: str | None = None) -> Report:
    """Go through an SMTP session step by step; raise Problem at the first failure."""
    if not settings.host:
        raise Problem(Kind.NOT_CONFIGURED)
    report = Report()
    connection = _connect(settings)
    try:
        report.steps.append("connected")
        connection.ehlo()
        if settings.use_tls:
            if not connection.has_extn("starttls"):
                raise Problem(Kind.NO_STARTTLS)
            _tls(lambda: connection.starttls(context=tls_context(settings.ca_file)), settings)
            connection.ehlo()
            report.steps.append("starttls")
        if settings.username:
            _log_in(connection, settings)
            report.steps.append("login")
        _sender(connection, settings)
        report.steps.append("sender")
        if send_to:
            _send(connection, settings, send_to)
            report.steps.append("sent")
    except smtplib.SMTPServerDisconnected as exc:
        raise Problem(Kind.UNREACHABLE, {"error": str(exc) or "disconnected"}) from exc
    finally:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
    return report


def _connect(settings: Settings) -> smtplib.SMTP:
    where = {"host": settings.host, "port": str(settings.port)}
    try:
        if settings.use_ssl:
            context = tls_context(settings.ca_file)
            return _tls(
                lambda: smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=context
                ),
                settings,
            )
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except ConnectionRefusedError as exc:
        raise Problem(Kind.REFUSED, where) from exc
    except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        # No greeting in time (smtplib reports a read that timed out as a
        # disconnection). A port that answers a TLS handshake instead wants
        # implicit TLS; one that answers nothing is the wrong port or walled off.
        if not settings.use_ssl and _speaks_tls(settings):
            raise Problem(Kind.EXPECTS_SSL, where) from exc
        if isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" not in str(exc):
            raise Problem(Kind.UNREACHABLE, where | {"error": str(exc)}) from exc
        raise Problem(Kind.TIMEOUT, where | {"seconds": f"{settings.timeout:g}"}) from exc
    except smtplib.SMTPConnectError as exc:
        raise Problem(Kind.UNREACHABLE, where | {"error": f"{exc.smtp_code}"}) from exc
    except OSError as exc:
        raise Problem(Kind.UNREACHABLE, where | {"error": exc.strerror or str(exc)}) from exc


def _tls(step: Callable[[], T], settings: Settings) -> T:
    """Run a TLS step; certificate and protocol failures become their own problems."""
    try:
        return step()
    except ssl.SSLCertVerificationError as exc:
        details = {"host": settings.host, "reason": str(exc.verify_message)}
        mismatch = exc.verify_code in (62, 64) or "mismatch" in str(exc.verify_message)
        raise Problem(Kind.WRONG_NAME if mismatch else Kind.UNTRUSTED, details) from exc
    except ssl.SSLError as exc:
        if settings.use_ssl and "WRONG_VERSION_NUMBER" in str(exc).upper().replace(" ", "_"):
            raise Problem(Kind.NOT_SSL, {"port": str(settings.port)}) from exc
        raise Problem(Kind.TLS_FAILED, {"error": exc.reason or str(exc)}) from exc


def _speaks_tls(settings: Settings) -> bool:
    """Whether the port answers a TLS handshake: then it wants implicit TLS, not plain SMTP."""
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # only asking whether TLS is spoken, sending nothing
    try:
        with (
            socket.create_connection(
                (settings.host, settings.port), timeout=settings.timeout
            ) as raw,
            probe.wrap_socket(raw),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _log_in(connection: smtplib.SMTP, settings: Settings) -> None:
    if not connection.has_extn("auth"):
        raise Problem(Kind.TLS_REQUIRED if not settings.use_ssl else Kind.NO_AUTH)
    try:
        connection.login(settings.username or "", settings.password or "")
    except smtplib.SMTPAuthenticationError as exc:
        raise Problem(Kind.AUTH_FAILED, {"code": str(exc.smtp_code)}) from exc
    except smtplib.SMTPResponseException as exc:
        raise _refusal(exc) from exc


def _sender(connection: smtplib.SMTP, settings: Settings) -> None:
    """Offer the sender, then take it back: a refused sender shows without sending."""
    address = parseaddr(settings.sender)[1]
    code, reply = connection.mail(address)
    if code >= 400:
        raise _refusal(smtplib.SMTPSenderRefused(code, reply, address), sender=address)
    connection.rset()


def _send(connection: smtplib.SMTP, settings: Settings, to: str) -> None:
    message = EmailMessage()
    message["Subject"] = "Campus Forum mail check"
    message["From"] = settings.sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(settings.sender)
    message.set_content("This is a test message from `flask --app campus mail check`.\n")
    sender = parseaddr(settings.sender)[1]
    try:
        connection.send_message(message, from_addr=sender, to_addrs=[to])
    except smtplib.SMTPSenderRefused as exc:
        raise _refusal(exc, sender=sender) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = " ".join(str(code) for code, _ in exc.recipients.values())
        raise Problem(Kind.RECIPIENT_REFUSED, {"to": to, "code": codes}) from exc
    except smtplib.SMTPResponseException as exc:
        raise _refusal(exc) from exc


def _refusal(exc: smtplib.SMTPResponseException, *, sender: str = "") -> Problem:
    if exc.smtp_code == 530:
        return Problem(Kind.TLS_REQUIRED)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return Problem(Kind.SENDER_REFUSED, {"sender": sender, "code": str(exc.smtp_code)})
    return Problem(Kind.REFUSED_MESSAGE, {"code": str(exc.smtp_code)})
