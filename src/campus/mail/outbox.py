"""Handing messages to the mail provider and telling callers what became of them."""

from __future__ import annotations

import smtplib
import ssl
import uuid
from typing import Protocol

from flask import current_app

from campus.extensions import mail
from campus.mail.messages import MailRequest, render


class MailUnavailable(RuntimeError):
    """The provider refused or could not be reached; the message was not sent."""


class Outbox(Protocol):
    def send(self, request: MailRequest) -> str:
        """Deliver or enqueue ``request``; return its delivery id."""


class DirectOutbox:
    """Sends within the request: the embedded default, no worker to run."""

    def send(self, request: MailRequest) -> str:
        message = render(request)
        try:
            with mail.get_connection() as connection:
                message.connection = connection
                message.send()
        except (smtplib.SMTPException, OSError) as exc:
            # OSError covers refused connections, timeouts and TLS failures. The
            # reply text may echo the recipient, so only its class and code are kept.
            raise MailUnavailable(describe(exc)) from exc
        return uuid.uuid4().hex


def describe(exc: BaseException) -> str:
    """Why a send failed, without the server's text: ``SMTPRecipientsRefused 550``."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"{type(exc).__name__} {' '.join(str(code) for code in codes)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{type(exc).__name__} {exc.verify_message}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


def outbox() -> Outbox:
    box: Outbox = current_app.extensions["campus.outbox"]
    return box
