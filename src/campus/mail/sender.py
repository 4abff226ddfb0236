"""Sending rendered messages over SMTP from a worker: kept-open connections,
a shared send rate, and a verdict on every failure: try again, or give up.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
import time
from typing import Any

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from campus.extensions import mail
from campus.mail.outbox import describe


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


class Sender:
    """One SMTP connection per worker thread, opened once and reused across messages."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.sessions_opened = 0
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        """Send one message; raise Temporary or Permanent when it does not go."""
        try:
            self._send_on_open_connection(message)
        except smtplib.SMTPServerDisconnected:
            # Servers drop idle connections; a fresh one deserves one immediate try.
            self._drop()
            try:
                self._send_on_open_connection(message)
            except Exception as exc:  # noqa: BLE001  (classified and re-raised, with its cause)
                self._fail(exc)
        except Exception as exc:  # noqa: BLE001  (classified and re-raised, with its cause)
            self._fail(exc)

    def _send_on_open_connection(self, message: Any) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = mail.get_connection()
            connection.open()
            self._local.connection = connection
            with self._lock:
                self.sessions_opened += 1
        message.connection = connection
        message.send()

    def _fail(self, exc: BaseException) -> None:
        verdict = classify(exc)
        if isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
            self._drop()  # the socket is in an unknown state
        raise verdict(describe(exc)) from exc

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            # Closing a dead connection may fail; it is gone either way.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.close()


class SendRate:
    """A provider's send rate (``MAIL_SEND_RATE``, e.g. ``20/second``), shared by all workers."""

    def __init__(self, rate: str | None, storage_url: str) -> None:
        self._item = parse(rate) if rate else None
        self._limiter = (
            MovingWindowRateLimiter(storage_from_string(storage_url)) if self._item else None
        )

    def wait_for_turn(self, deadline: float) -> bool:
        """Block until a send is allowed; False when the deadline comes first."""
        if self._item is None or self._limiter is None:
            return True
        while not self._limiter.hit(self._item, "campus-mail-send"):
            if time.time() >= deadline:
                return False
            time.sleep(0.02)
        return True


def sender() -> Sender:
    found: Sender = current_app.extensions["campus.sender"]
    return found
