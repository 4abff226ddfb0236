"""What each mail says: one subject and one pair of templates per kind, in two languages.

A ``MailRequest`` is everything needed to render a message later and
elsewhere (a worker, another process), so it holds plain values only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import formatdate, parseaddr
from functools import lru_cache
from typing import Any

from flask import current_app
from flask_mailman import EmailMultiAlternatives
from flask_mailman.message import forbid_multi_line_headers

from campus.extensions import services
from campus.mail.mime import Alternatives, alternatives
from campus.mail.rendering import Language, Renderer
from campus.support.addresses import parse_address


@dataclass(frozen=True)
class IssuedCode:
    """Whom a mailed code was for, so that whoever finds the mail undeliverable (the
    worker, later, elsewhere) can have that code withdrawn. ``account`` is empty for a
    code keyed by the address alone; ``address`` is the one it was sent to."""

    purpose: str
    account: str
    address: str
    counted_as: str = ""


@dataclass(frozen=True)
class MailRequest:
    """A message to render: its kind, one validated recipient, a language, values."""

    kind: str
    to: str
    locale: str
    context: dict[str, Any] = field(default_factory=dict)
    # For a code: whom it was for (``IssuedCode``).
    issued: IssuedCode | None = None

    def __repr__(self) -> str:
        # The context may hold a code: never let it reach a log line.
        return f"MailRequest(kind={self.kind!r}, locale={self.locale!r})"


def subject(request: MailRequest, language: Language) -> str:
    """The subject in the request's language: a fixed template, and for a code mail the
    code or the time it was sent after it, so that no two code mails share one subject."""
    context = request.context
    fixed = language.gettext(_SUBJECTS[request.kind])
    if "sent_at" not in context:
        return fixed
    if context.get("code_in_subject"):
        # The code is drawn from a fixed alphabet of capitals and digits.
        return language.gettext("%(subject)s: %(code)s", subject=fixed, code=context["code"])
    time = language.time(_sent_at(request), "HH:mm:ss")
    return language.gettext("%(subject)s (sent %(time)s)", subject=fixed, time=time)


def _sent_at(request: MailRequest) -> datetime:
    return datetime.fromtimestamp(float(request.context["sent_at"]), UTC)


def N_(message: str) -> str:  # the name Babel's extractor knows
    """Marks a message for the catalog; translated where it is used."""
    return message


# Fixed templates only: nothing a user typed ever reaches a header. Translated when
# read, one at a time: a message needs one subject, not all of them.
_SUBJECTS = {
    "change_email_code": N_("Campus forum email verification code"),
    "email_changed_notice": N_("Your Campus Forum email address was changed"),
    "sign_up_code": N_("Campus forum sign-up code"),
    "reset_password_code": N_("Campus forum password reset code"),
    "log_in_code": N_("Campus forum log-in code"),
    "add_email_code": N_("Campus forum address verification code"),
    "addresses_changed_notice": N_("The addresses of your Campus Forum account changed"),
    "account_exists_notice": N_("You already have a Campus Forum account"),
    "address_in_use_notice": N_("Someone tried to add your address to a Campus Forum account"),
    "password_changed_notice": N_("Your Campus Forum password was changed"),
}

KINDS = frozenset(_SUBJECTS)


def render(request: MailRequest) -> EmailMultiAlternatives:
    """Build the text and HTML message for a request, in the request's language."""
    recipient = parse_address(request.to).value  # re-checked: headers take only valid addresses
    language = renderer().language(request.locale)
    context = dict(request.context)
    if "sent_at" in context:
        context["sent_at"] = language.site_time(_sent_at(request))
    text = language.render(f"mail/{request.kind}.txt", context)
    html = language.render(f"mail/{request.kind}.html", context)
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = _Composed(
        subject=subject(request, language),
        body=text,
        from_email=sender,
        to=[recipient],
        # Date here, not left to Flask-Mailman, so that both ways of writing the
        # message out (``message()`` and ``wire()``) write the same one.
        headers={"Date": _date(), "Message-ID": message_id(sender)},
    )
    message.attach_alternative(html, "text/html")
    _check_headers(message)
    return message


def renderer() -> Renderer:
    found = services().renderer
    if found is None:
        raise RuntimeError("mail is not set up on this app (mail.setup.init_app)")
    return found


class _Composed(EmailMultiAlternatives):  # type: ignore[misc]
    """Flask-Mailman's message with a subject folded the standard way.

    Its own encoding splits a long non-ASCII subject without counting the
    ``Subject: `` before it, so the header starts with a fold and readers show
    the subject with a leading space. A ``Header`` that knows its name folds right.
    It is composed once and not changed after.
    """

    # Built once: the header check and the send read the same message, and building
    # it is most of what composing costs.
    _built: Any = None

    def _create_alternatives(self, msg: Any) -> Any:
        # Flask-Mailman's own container, written out by the faster generator (``mime``).
        if not self.alternatives:
            return msg
        container = Alternatives(_subtype=self.alternative_subtype, encoding=msg.encoding)
        # Signed as it is written out, when every header is final.
        container.signer = services().dkim
        if self.body:
            container.attach(msg)
        for alternative in self.alternatives:
            container.attach(self._create_mime_attachment(*alternative))
        return container

    def wire(self) -> bytes:
        """The message as it goes over SMTP (CRLF line ends), signed when DKIM is on.

        Written straight from its parts (``mime.alternatives``): the same bytes as
        ``message()`` written out, at a fraction of the cost of building the email
        package's tree first; through that tree when the parts need its encoding.
        """
        headers = [
            ("From", _address_header("From", self.from_email)),
            ("To", _address_header("To", self.to[0])),
            *self.extra_headers.items(),
        ]
        written = None
        if len(self.alternatives) == 1 and not (self.cc or self.reply_to):
            html, _kind = self.alternatives[0]
            written = alternatives(headers, self.subject, self.body, html)
        if written is None:
            return bytes(self.message().as_bytes(linesep="\r\n"))  # signed as it is written
        signer = services().dkim
        return written if signer is None else bytes(signer.sign(written))

    def message(self) -> Any:
        if self._built is None:
            built = super().message()
            charset = "us-ascii" if self.subject.isascii() else "utf-8"
            built.replace_header("Subject", Header(self.subject, charset, header_name="Subject"))
            self._built = built
        return self._built


def message_id(sender: str) -> str:
    """A random id at the sender's own domain.

    The email package's default names the worker's process id and the host's
    name: neither is anyone's business, and the host name may not even resolve.
    The sender was validated at start-up, so its domain is a plain ASCII name.
    """
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return f"<{secrets.token_hex(16)}@{domain}>"


def _date() -> str:
    # Flask-Mailman's own, with its setting for local time.
    return formatdate(localtime=current_app.extensions["mailman"].use_localtime)


@lru_cache(maxsize=4096)
def _address_header(name: str, value: str) -> str:
    # Flask-Mailman's own rule for an address header (each address sanitised), kept
    # per address: the sender is one, and a recipient is validated plain ASCII.
    return str(forbid_multi_line_headers(name, value, "utf-8")[1])


def _check_headers(message: _Composed) -> None:
    """Refuse a message whose headers could carry a line break.

    The email package's folding had injection bugs (CVE-2024-6923, unfixed in
    older Pythons), so safety must not depend on it: every header value here is
    a fixed template or a validated ASCII address, and this makes sure, on the
    values as given, before any folding.
    """
    values = {"From": message.from_email, "Subject": message.subject, **message.extra_headers}
    values |= {"To": ", ".join(message.to), "Cc": ", ".join(message.cc)}
    for name, value in values.items():
        if any(ch in str(value) for ch in "\r\n\x00"):
            raise ValueError(f"header {name} holds a line break")
    if len(message.recipients()) != 1:
        raise ValueError("a message goes to exactly one recipient")
