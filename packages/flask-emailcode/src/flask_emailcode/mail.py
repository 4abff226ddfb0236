"""The mail that carries a code: what a sender receives, how it is written, who sends it.

A sender is any callable taking a ``CodeMail``. By default it is the app's
Flask-Mailman, else its Flask-Mail, with the app's ``MAIL_*`` settings; an
app that queues mail, calls an HTTP provider or writes to a log registers its
own (``@emailcode.sender``). Every header value is a fixed template, the
validated recipient, or the app's configured sender.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from flask import Flask

from flask_emailcode.errors import MailUnavailable


@dataclass(frozen=True)
class CodeMail:
    """One code mail, written in the requester's language.

    ``code`` is here for senders that render their own templates; it is kept out
    of ``repr`` so a log line that formats the mail shows no code. A sender that
    queues the mail must keep it as it keeps any secret (encrypted at rest).
    """

    to: str
    purpose: str
    delivery: str
    locale: str
    # Writes (subject, text, html) on first use, in an app context: a sender with
    # templates of its own never pays for the extension's.
    written: Callable[[], tuple[str, str, str]] = field(repr=False, compare=False)
    sent_at: datetime
    expires_in: int
    code_in_subject: bool
    from_address: str | None
    code: str = field(repr=False)
    # Who the code was for, so a sender that learns later the mail failed can
    # have it withdrawn (``EmailCode.undelivered``).
    account: str | None = None
    counted_as: str | None = None

    def __repr__(self) -> str:
        return f"CodeMail(purpose={self.purpose!r}, delivery={self.delivery!r}, code='***')"

    @cached_property
    def _parts(self) -> tuple[str, str, str]:
        return self.written()

    @property
    def subject(self) -> str:
        """A fixed template with the code or the time sent: no two code mails share one."""
        return self._parts[0]

    @property
    def text(self) -> str:
        return self._parts[1]

    @property
    def html(self) -> str:
        return self._parts[2]


Sender = Callable[[CodeMail], Any]


def default_sender(app: Flask) -> Sender:
    """The app's own mail extension: Flask-Mailman, else Flask-Mail."""
    if "mailman" in app.extensions:
        return send_with_mailman
    if "mail" in app.extensions:
        return send_with_flask_mail
    raise RuntimeError(
        "Flask-EmailCode found no mail extension on the app: initialise Flask-Mailman "
        "(or Flask-Mail) before EmailCode, or register a sender with @emailcode.sender"
    )


def send_with_mailman(mail: CodeMail) -> None:
    from flask import current_app
    from flask_mailman import EmailMultiAlternatives

    message = EmailMultiAlternatives(
        subject=mail.subject, body=mail.text, from_email=mail.from_address, to=[mail.to]
    )
    message.attach_alternative(mail.html, "text/html")

    def deliver() -> None:
        # A connection of its own, closed however the send ends: Flask-Mailman's own
        # leaves the socket open when the server refuses the message.
        with current_app.extensions["mailman"].get_connection() as connection:
            message.connection = connection
            message.send()

    _send(deliver)


def send_with_flask_mail(mail: CodeMail) -> None:
    from flask import current_app
    from flask_mail import Message

    message = Message(
        subject=mail.subject,
        recipients=[mail.to],
        body=mail.text,
        html=mail.html,
        sender=mail.from_address,
    )
    _send(lambda: current_app.extensions["mail"].send(message))


def _send(send: Callable[[], Any]) -> None:
    import smtplib
    import ssl

    try:
        send()
    except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
        raise MailUnavailable(f"mail: {type(exc).__name__}") from exc
