"""Code mail queued on Celery (the ``celery`` extra): the request answers at once, and a
worker sends the mail and reports how it ended.

``CeleryQueue(celery, emailcode)`` registers one task on the Celery app and becomes
the extension's sender. A queued mail carries its code, so it travels and waits as
a Fernet token (AES-128-CBC with HMAC-SHA256) under a key derived from the
extension's own: a broker dump, a log of the message or a dead-letter copy holds
only ciphertext, and the token expires with the code, so a mail that waited past
its code is not sent but reported failed (the code is withdrawn).

The task runs in the Flask app's context, as Flask's own Celery pattern arranges
(``celery_init_app`` with a ``FlaskTask``; see Flask's "Background Tasks with
Celery"). It sends with the app's Flask-Mailman or Flask-Mail unless given a
``send`` of its own. A mail server that is down is tried again with a growing
pause while the code lives; a refusal for good (a 5xx) is not. A message the
broker hands out twice is sent once: a delivery already reported is skipped.
"""

from __future__ import annotations

import base64
import functools
import json
import smtplib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery import Celery
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app, has_app_context

from flask_emailcode.errors import MailUnavailable
from flask_emailcode.extension import EmailCode
from flask_emailcode.mail import CodeMail, default_sender

TASK = "flask_emailcode.deliver"
_LABEL = "queue.v1"
# Pauses between tries of a mail server that is down, in seconds; the last repeats.
BACKOFF = (2, 5, 15, 30, 60)
_CARRIED = (
    "to", "purpose", "delivery", "locale", "expires_in", "code_in_subject",
    "from_address", "code", "account", "counted_as",
)  # fmt: skip


class CeleryQueue:
    """The sender that queues: ``CeleryQueue(celery, emailcode)``, before or after
    ``init_app``. ``send`` (a ``CodeMail`` -> None, raising ``MailUnavailable`` for a
    temporary failure) replaces the app's mail extension in the worker."""

    def __init__(
        self,
        celery: Celery,
        emailcode: EmailCode,
        *,
        send: Callable[[CodeMail], Any] | None = None,
        queue: str | None = None,
    ) -> None:
        self._emailcode = emailcode
        self._send = send
        self._queue = queue

        def deliver(task: Any, token: str) -> str:
            return self._run(task, token)

        # acks_late: a worker lost mid-send hands the message back, and the status read
        # before each send keeps the second copy from going out again. shared=False: the
        # task is this Celery app's alone, so two apps' queues never reach each other.
        self.task = celery.task(
            name=TASK, bind=True, acks_late=True, max_retries=None, shared=False
        )(deliver)
        emailcode.sender(self)

    def __call__(self, mail: CodeMail) -> str:
        """Seal the mail and queue it; the extension records the delivery ``queued``."""
        options: dict[str, Any] = {"queue": self._queue} if self._queue else {}
        self.task.apply_async(args=[self.seal(mail)], **options)
        return "queued"

    def seal(self, mail: CodeMail) -> str:
        # Written here, in the request's context and language; the worker has neither.
        fields: dict[str, Any] = {name: getattr(mail, name) for name in _CARRIED}
        fields.update(
            sent_at=mail.sent_at.isoformat(), subject=mail.subject, text=mail.text, html=mail.html
        )
        payload = json.dumps(fields, separators=(",", ":")).encode("utf-8")
        return self._fernet().encrypt(payload).decode("ascii")

    def _run(self, task: Any, token: str) -> str:
        if not has_app_context():
            raise RuntimeError(
                "flask_emailcode.deliver runs in the Flask app's context: build the Celery "
                "app with a Task class that enters app.app_context() (Flask's celery_init_app)"
            )
        emailcode = self._emailcode
        fernet = self._fernet()
        fields = json.loads(_opened(fernet, token))
        mail = _mail(fields)
        if _already_reported(emailcode, mail):
            return "duplicate"
        if _age(fernet, token) >= mail.expires_in:
            emailcode.report(mail, "failed", reason="expired in the queue")
            return "expired"
        try:
            (self._send or default_sender(current_app))(mail)
        except MailUnavailable as exc:
            if _refused(exc.__cause__):
                # The server said no for good (a 5xx): another try would hear the same.
                emailcode.report(mail, "failed", reason="refused by the mail server")
                return "failed"
            wait = BACKOFF[min(task.request.retries, len(BACKOFF) - 1)]
            if _age(fernet, token) + wait >= mail.expires_in:
                emailcode.report(mail, "failed", permanent=False, reason=str(exc))
                return "failed"
            raise task.retry(countdown=wait, exc=exc) from exc
        emailcode.report(mail, "sent")
        return "sent"

    def _fernet(self) -> Fernet:
        return _fernet_for(self._emailcode.subkey(_LABEL))


@functools.lru_cache(maxsize=8)
def _fernet_for(key: bytes) -> Fernet:
    # Built once per key: a worker opens hundreds a second.
    return Fernet(base64.urlsafe_b64encode(key))


def _refused(cause: BaseException | None) -> bool:
    """A permanent refusal: a 5xx to the recipient, the sender or the data (a 4xx is
    worth another try)."""
    if isinstance(cause, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in cause.recipients.values())
    return isinstance(cause, smtplib.SMTPResponseException) and cause.smtp_code >= 500


def _opened(fernet: Fernet, token: str) -> bytes:
    try:
        return fernet.decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise ValueError("a queued code mail that this key did not seal") from exc


def _age(fernet: Fernet, token: str) -> float:
    """Seconds since the mail was sealed: Fernet's own timestamp, on the wall clock that
    the web process and the worker share (no hand-moved clock crosses processes)."""
    return time.time() - fernet.extract_timestamp(token.encode("ascii"))


def _mail(fields: dict[str, Any]) -> CodeMail:
    parts = (fields["subject"], fields["text"], fields["html"])
    return CodeMail(
        written=lambda: parts,
        sent_at=datetime.fromisoformat(fields["sent_at"]),
        **{name: fields[name] for name in _CARRIED},
    )


def _already_reported(emailcode: EmailCode, mail: CodeMail) -> bool:
    """A message handed out twice (a worker lost before its ack): sent once only."""
    try:
        status = emailcode.status(mail.delivery, account=mail.account)
    except RuntimeError:  # a storage that keeps no statuses cannot tell
        return False
    return status is not None and status != "queued"


__all__ = ["BACKOFF", "TASK", "CeleryQueue"]
