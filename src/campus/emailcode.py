"""The binding: the campus app as Flask-EmailCode's first user.

The extension issues, checks and spends codes; this module gives it what is the
campus's own: its storage (the app's database tables, or its Redis client with
Sentinel, TLS and replica waits), its mail pipeline (a code mail becomes a
``MailRequest`` for the outbox, sent inline or queued for the worker), its clock,
the purposes it knows, and the campus names of what the extension raises and
signals (security events are written from the extension's signals). The app
imports only the extension's public names (an import-linter contract).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from campus.extensions import db
from campus.mail.messages import IssuedCode, MailRequest
from campus.mail.outbox import outbox
from campus.mail.signals import delivery_failed
from campus.settings import uses_redis
from campus.support import redis_clients
from campus.support.addresses import Address
from campus.support.budgets import Limited, budget_storage
from campus.support.events import event
from campus.support.keyed import keyed
from campus.support.locale import current_locale
from flask_emailcode import (
    Address as ExtensionAddress,
)
from flask_emailcode import (
    CodeMail,
    EmailCode,
    Locked,
    MailUnavailable,
    Outcome,
    StoreUnavailable,
    TooSoon,
    Verdict,
    normalize_code,
)
from flask_emailcode import CodeRefused as Refusal
from flask_emailcode import signals as code_signals
from flask_emailcode.storage import Backend, redis_backend, sql_backend, sql_tables

__all__ = [
    "CodeRefused",
    "IssueRefused",
    "Outcome",
    "Purpose",
    "Sent",
    "StoreUnavailable",
    "TooManyFailures",
    "Verdict",
    "address_account",
    "check_code",
    "init_app",
    "issue_unsent",
    "normalize_code",
    "ping",
    "policy",
    "send_code",
]

# The tables the app's migrations made before the extension existed keep their names.
_TABLES = {
    "codes": "verification_codes",
    "failures": "verification_failures",
    "limit_hits": "rate_limit_hits",
}
# The Redis key prefix codes have always had, so codes outstanding at an upgrade stay valid.
_PREFIX = "vc"
# Declared on the app's metadata at import, so its migrations and schema checks see them.
_CODE_TABLES = sql_tables(db.metadata, names=_TABLES, kinds=("codes", "failures"))
verification_codes = _CODE_TABLES["codes"]
verification_failures = _CODE_TABLES["failures"]
_BY_ADDRESS = "addr:"
# The extension's names for its budgets, as the app's events and metrics call them.
_SCOPES = {"per_address": "code-per-address", "global": "code-global"}


class Purpose(enum.StrEnum):
    """What a code proves. A code for one purpose is worthless for any other."""

    CHANGE_EMAIL = "change_email"
    SIGN_UP = "sign_up"
    RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose, not a password)
    LOG_IN = "log_in"
    ADD_EMAIL = "add_email"


class IssueRefused(Exception):
    """No code may be issued for this slot yet: ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class CooldownActive(IssueRefused):
    """A code was sent moments ago."""


class TooManyFailures(IssueRefused):
    """Too many wrong codes for the account and purpose; locked until they age out."""


class CodeRefused(Exception):
    """The typed code does not prove the address: wrong, expired or spent."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.outcome.value)
        self.verdict = verdict


@dataclass(frozen=True)
class Sent:
    """What the page needs after a code (or a notice in its place) went out."""

    resend_after: int
    expires_in: int
    delivery: str
    # The slot's earlier codes still alive: the page says an earlier mail's code works too.
    earlier: int = 0


def address_account(address: Address) -> str:
    """The account name for flows keyed by an address alone (sign-up, reset): the same
    whether or not an account has it, and for every spelling of one mailbox. It is the
    name the extension gives such codes (``account=None``)."""
    return f"{_BY_ADDRESS}{keyed('address', address.mailbox)}"


def _storage(app: Flask) -> Backend:
    """The app's own storage: Redis as the app reaches it, else its database."""
    with app.app_context():
        limits = budget_storage()
        if uses_redis(app.config):
            return redis_backend(
                redis_clients.shared(app),
                limits=limits,
                prefix=_PREFIX,
                replicas=int(app.config["REDIS_WAIT_REPLICAS"]),
                wait_ms=int(app.config["REDIS_WAIT_MS"]),
                statuses=False,  # the delivery log keeps them (``mail.statuses``)
            )
        return sql_backend(db.engine, db.metadata, create=False, names=_TABLES, statuses=False)


def _to_outbox(mail: CodeMail) -> str:
    """The extension's code mail, handed to the app's outbox: written there in the app's
    own templates and sent inline or queued for the worker."""
    request = MailRequest(
        kind=f"{mail.purpose}_code",
        to=mail.to,
        locale=current_locale(),
        context={
            "code": mail.code,
            "minutes": max(1, mail.expires_in // 60),
            # Each mail says when it was sent and has a subject of its own, so a
            # late one is told from the newest, and mail clients do not fold them.
            "sent_at": mail.sent_at.timestamp(),
            "code_in_subject": mail.code_in_subject,
        },
        issued=IssuedCode(
            purpose=mail.purpose,
            account=mail.account or "",
            address=mail.to,
            counted_as=mail.counted_as or "",
        ),
    )
    owner = mail.account or address_account(Address(mail.to))
    outbox().send(request, owner=owner, ttl=mail.expires_in, delivery=mail.delivery)
    return "queued" if current_app.config["MAIL_DELIVERY"] == "queue" else "sent"


emailcode = EmailCode(sender=_to_outbox, storage=_storage)


def init_app(app: Flask) -> None:
    """Bind the extension to the app's settings, storage and clock."""
    # Tests move the app's clock; the extension's codes, windows and mail dates follow it.
    app.config.setdefault("EMAILCODE_CLOCK", app.config.get("CAMPUS_CLOCK"))
    app.config.setdefault("EMAILCODE_RATELIMIT_ENABLED", app.config["RATELIMIT_ENABLED"])
    emailcode.init_app(app)
    # The mail layer knows no codes: it says a delivery failed, and the code goes here.
    delivery_failed.connect(_withdraw_undelivered)


def policy(purpose: str = Purpose.SIGN_UP) -> Any:
    """The rules of a purpose's codes (``ttl``, ``resend_cooldown``, ...)."""
    return emailcode.policy(purpose)


def ping() -> None:
    """Raise StoreUnavailable unless the code store answers."""
    emailcode.ping()


def send_code(
    purpose: Purpose,
    *,
    account: str,
    address: Address,
    client: str,
    proven: bool = False,
    counted_as: str | None = None,
    trusted: bool = False,
) -> Sent:
    """Issue a code and mail it; if the mail cannot go, the code does not stay valid.

    ``proven``: the request already proved the account's password, so strangers'
    requests to the same mailbox must not stop this mail: it spends no share of the
    mailbox's budget. The request's client and account budgets were counted before
    the view (``web.rate_limits``).
    """
    with _campus_refusals():
        sent = emailcode.send(
            purpose,
            to=address.value,
            account=_bound(account),
            client=client,
            counted_as=counted_as,
            trusted=trusted,
            mailbox_budget=not proven,
            count_request=False,
        )
    return Sent(sent.resend_after, sent.expires_in, sent.delivery, sent.earlier)


def issue_unsent(purpose: Purpose, *, account: str, address: Address, client: str) -> int:
    """Issue a code that is never mailed, so the slot behaves as if one had been; returns
    the earlier codes still alive. Raises exactly where a real code would be refused."""
    with _campus_refusals():
        held = emailcode.hold(
            purpose, to=address.value, account=_bound(account), client=client, count_request=False
        )
    return held.earlier


def revoke_every_code(account: str, addresses: Iterable[str]) -> int:
    """Void every outstanding code of an account: those bound to it and those bound to
    each of its addresses alone (log-in by code, password reset). Returns how many."""
    return emailcode.revoke(account=account, addresses=addresses)


def check_code(
    purpose: Purpose,
    *,
    account: str,
    address: Address,
    code: str,
    client: str,
    counted_as: str | None = None,
    trusted: bool = False,
) -> Verdict:
    """Verify and spend a typed code, and raise CodeRefused unless it is right."""
    with _campus_refusals():
        try:
            emailcode.verify(
                purpose,
                address=address.value,
                code=code,
                account=_bound(account),
                client=client,
                counted_as=counted_as,
                trusted=trusted,
                count_request=False,
            )
        except Refusal as refused:
            raise CodeRefused(Verdict(refused.outcome, refused.attempts_left)) from None
    return Verdict(Outcome.OK)


def _bound(account: str) -> str | None:
    """The extension's ``account``: None for a slot keyed by the address alone."""
    return None if account.startswith(_BY_ADDRESS) else account


@contextmanager
def _campus_refusals() -> Iterator[None]:
    """The extension's refusals under the names the app's flows and handlers know."""
    try:
        yield
    except Locked as error:
        raise TooManyFailures(error.retry_after) from None
    except TooSoon as error:
        if error.scope == "cooldown":
            raise CooldownActive(error.retry_after) from None
        raise Limited(error.retry_after, scope=_SCOPES.get(error.scope, error.scope)) from None
    except MailUnavailable as error:
        # The outbox's own failure, which the app's handlers answer.
        raise (error.__cause__ or error) from None


def _withdraw_undelivered(sender: Any, *, request: MailRequest, **_: Any) -> None:
    """Void the code a mail request carried: it could not be delivered."""
    issued = request.issued
    if issued is not None:
        emailcode.withdraw_code(
            issued.purpose,
            address=issued.address,
            code=str(request.context["code"]),
            account=_bound(issued.account) if issued.account else None,
            counted_as=issued.counted_as or None,
        )


# Security events, from the extension's signals: the account is the slot's name (an
# address-keyed slot's keyed name), the address the one the code was for.


def _account(account: str | None, address: ExtensionAddress | None) -> str | None:
    if account is not None:
        return account
    return address_account(Address(address.value)) if address is not None else None


@code_signals.code_issued.connect
def _issued(app: Any, *, purpose: str, account: str | None, address: Any, **fields: Any) -> None:
    event(
        "code.issued",
        account=_account(account, address),
        address=address.value,
        purpose=purpose,
        delivery=fields["delivery"],
    )


@code_signals.code_verified.connect
def _verified(app: Any, *, purpose: str, account: str | None, address: Any) -> None:
    event(
        "code.verified",
        account=_account(account, address),
        address=address.value,
        purpose=purpose,
        outcome=Outcome.OK.value,
        attempts_left=0,
    )


@code_signals.code_refused.connect
def _refused(app: Any, *, purpose: str, account: str | None, address: Any, **fields: Any) -> None:
    event(
        "code.refused",
        account=_account(account, address),
        address=address.value,
        purpose=purpose,
        outcome=fields["outcome"].value,
        attempts_left=fields["attempts_left"],
    )


@code_signals.code_limited.connect
def _limited(
    app: Any, *, purpose: str | None, account: str | None, address: Any, **fields: Any
) -> None:
    event(
        "code.limited",
        account=_account(account, address),
        address=address.value if address is not None else None,
        purpose=purpose,
        limit=_SCOPES.get(fields["scope"], fields["scope"]),
        retry_after=fields["retry_after"],
    )


@code_signals.code_withdrawn.connect
def _withdrawn(app: Any, *, purpose: str, account: str | None, address: Any, **_: Any) -> None:
    event(
        "code.withdrawn", account=_account(account, address), address=address.value, purpose=purpose
    )
