"""Handing messages to the mail provider and telling callers what became of them."""

from __future__ import annotations

import smtplib
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
            # OSError covers refused connections, timeouts and TLS failures.
            raise MailUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return uuid.uuid4().hex


def outbox() -> Outbox:
    box: Outbox = current_app.extensions["campus.outbox"]
    return box
