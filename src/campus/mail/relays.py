"""The SMTP relays mail may leave by, and the verdict on a failed try.

The primary is the ``MAIL_*`` provider. With ``MAIL_FALLBACK_SERVER`` a second
provider takes what the primary could not: a refused connection, a timeout or
a 4xx answer. Direct delivery tries it at once, in the same request; the worker
on its next attempt. A permanent failure (5xx for the recipient, a bad login,
an untrusted certificate) would fail the same way anywhere, so it is never
passed on.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Any

from campus.extensions import mail

PRIMARY, FALLBACK = "primary", "fallback"


class Temporary(Exception):
    """Worth another try later: 4xx replies, refused connections, timeouts."""


class Permanent(Exception):
    """Another try would fail the same way: 5xx for the recipient, bad credentials."""


def classify(exc: BaseException) -> type[Temporary] | type[Permanent]:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Temporary if codes and all(400 <= code < 500 for code in codes) else Permanent
    if isinstance(exc, smtplib.SMTPResponseException):
        return Temporary if 400 <= exc.smtp_code < 500 else Permanent
    if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
        return Permanent  # a configuration fault: retrying changes nothing
    return Temporary  # disconnects, refused connections, timeouts, other socket errors


@dataclass(frozen=True)
class Relay:
    """One provider: its name in delivery statuses, and what differs from the MAIL_* settings."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def connection(self) -> Any:
        """An unopened Flask-Mailman connection to this relay."""
        return mail.get_connection(**self.options)


def relays(config: Any) -> tuple[Relay, ...]:
    """The primary, then the fallback when one is configured."""
    primary = Relay(PRIMARY)
    if not config.get("MAIL_FALLBACK_SERVER"):
        return (primary,)
    fallback = Relay(
        FALLBACK,
        {
            "host": config["MAIL_FALLBACK_SERVER"],
            "port": int(config["MAIL_FALLBACK_PORT"]),
            "use_tls": bool(config.get("MAIL_FALLBACK_USE_TLS")),
            "use_ssl": bool(config.get("MAIL_FALLBACK_USE_SSL")),
            # Empty, not None: None would make the backend borrow the primary's login.
            "username": config.get("MAIL_FALLBACK_USERNAME") or "",
            "password": config.get("MAIL_FALLBACK_PASSWORD") or "",
        },
    )
    return (primary, fallback)
