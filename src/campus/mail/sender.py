"""Sending rendered messages over SMTP from a worker: kept-open connections to each
relay, and a send rate shared by all workers. The verdict on a failure is ``relays``'s.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
import time
from typing import Any

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from campus.extensions import services
from campus.mail.outbox import describe
from campus.mail.relays import Relay, classify
from campus.mail.smtp import VerifiedSMTPEmailBackend


class Sender:
    """Kept-open SMTP connections: each carries one message at a time and then waits, open,
    for the next. A worker never holds more of them than it has messages in flight.

    The connections are pooled, not tied to a thread: the gevent pool runs every
    message in a new greenlet, so a per-thread connection would open a session
    for every message and leave it open.
    """

    def __init__(self) -> None:
        self._idle: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def send(self, message: Any, relay: Relay) -> None:
        """Send one message by ``relay``; raise Temporary or Permanent when it does not go."""
        connection = None
        try:
            connection = self._take(relay)
            try:
                self._send_on(connection, message)
            except smtplib.SMTPServerDisconnected:
                # Servers drop idle connections; a fresh one deserves one immediate try.
                self._close(connection)
                connection = None
                connection = self._open(relay)
                self._send_on(connection, message)
        except Exception as exc:  # classified and re-raised, with its cause
            if connection is not None and isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
                self._close(connection)  # the socket is in an unknown state
                connection = None
            raise classify(exc)(describe(exc)) from exc
        finally:
            if connection is not None:
                with self._lock:
                    self._idle.setdefault(relay.name, []).append(connection)

    def _take(self, relay: Relay) -> Any:
        with self._lock:
            idle = self._idle.get(relay.name)
            if idle:
                return idle.pop()
        return self._open(relay)

    def _open(self, relay: Relay) -> Any:
        connection = relay.connection()
        connection.open()
        return connection

    @staticmethod
    def _send_on(connection: Any, message: Any) -> None:
        if not isinstance(connection, VerifiedSMTPEmailBackend):
            message.connection = connection  # a development mailbox, say
            message.send()
            return
        # The bytes straight onto the kept-open session: both addresses were validated
        # (ASCII, one line) at start-up and at render, so Flask-Mailman's send path, which
        # parses each again, adds nothing but its cost. The rest is its own ``_send``.
        connection.open()  # opens only a closed one
        session = connection.connection
        if session is None:  # open() raises rather than leave it so
            raise smtplib.SMTPServerDisconnected("the relay's session did not open")
        session.sendmail(
            message.from_email,
            message.recipients(),
            message.wire(),
            mail_options=connection.mailman.mail_options,
        )

    @staticmethod
    def _close(connection: Any) -> None:
        # Closing a dead connection may fail; it is gone either way.
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()


class SendRate:
    """A provider's send rate (``MAIL_SEND_RATE``, e.g. ``20/second``), shared by all workers."""

    def __init__(
        self, rate: str | None, storage_uri: str, options: dict[str, Any] | None = None
    ) -> None:
        self._item = parse(rate) if rate else None
        self._limiter = (
            MovingWindowRateLimiter(storage_from_string(storage_uri, **(options or {})))
            if self._item
            else None
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
    found = services().sender
    if found is None:
        raise RuntimeError("the mail queue is not set up on this app (queue.init_queue)")
    return found
