"""The binding: the app's one door to the verification engine, configured by ``EMAILCODE_*``.

No other module of the app imports ``verification`` (an import-linter contract
holds it). The engine knows slots, digests and stores; this module adds what
an app needs around it: one verifier per app, codes bound to an account and
a mailbox, the mail that carries each code, the sending budgets, security
events, and the engine's types the layers above may name.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from campus.extensions import db
from campus.mail.messages import MailRequest
from campus.mail.outbox import outbox
from campus.mail.signals import delivery_failed
from campus.settings import uses_redis
from campus.support import clock, redis_clients
from campus.support.addresses import Address
from campus.support.budgets import Limited, take_sending_budgets
from campus.support.events import event
from campus.support.keyed import keyed
from campus.support.locale import current_locale
from flask_emailcode.core import (
    Issued,
    IssueRefused,
    Outcome,
    Policy,
    StoreUnavailable,
    TooManyFailures,
    Verdict,
    Verifier,
    normalize_code,
)
from flask_emailcode.core.stores.base import CodeStore
from flask_emailcode.core.stores.redis import RedisCodeStore
from flask_emailcode.core.stores.sql import SqlCodeStore, code_table, failure_table

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
    "send_code",
    "verifier",
]

verification_codes = code_table(db.metadata)
verification_failures = failure_table(db.metadata)


class Purpose(enum.StrEnum):
    """What a code proves. A code for one purpose is worthless for any other."""

    CHANGE_EMAIL = "change_email"
    SIGN_UP = "sign_up"
    RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose, not a password)
    LOG_IN = "log_in"
    ADD_EMAIL = "add_email"


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
    """The account name for flows keyed by an address alone (sign-up, reset).

    It is the same whether or not an account has the address, so nothing about
    the codes for it tells the two apart; and the same for every spelling of one
    mailbox, so ``+tags`` share one cooldown and one failure count.
    """
    return f"{_BY_ADDRESS}{keyed('address', address.mailbox)}"


_BY_ADDRESS = "addr:"


def init_app(app: Flask) -> None:
    """Build the verifier once from config and keep it in ``app.extensions``."""
    store: CodeStore
    if uses_redis(app.config):
        store = RedisCodeStore(
            redis_clients.shared(app),
            replicas=int(app.config["REDIS_WAIT_REPLICAS"]),
            wait_ms=int(app.config["REDIS_WAIT_MS"]),
        )
    else:
        with app.app_context():
            engine = db.engine
            store = SqlCodeStore(engine, verification_codes, verification_failures)
    app.extensions["campus.verifier"] = Verifier(
        policy=Policy.from_mapping(app.config),
        store=store,
        secret_key=app.config["SECRET_KEY"].encode("utf-8"),
        # Tests move time by hand; everyone else gets the wall clock.
        clock=app.config.get("CAMPUS_CLOCK", time.time),
    )
    # The mail layer knows no codes: it says a delivery failed, and the code goes here.
    delivery_failed.connect(_withdraw_undelivered)


def verifier() -> Verifier:
    found: Verifier = current_app.extensions["campus.verifier"]
    return found


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
    mailbox's budget (only the global one), its slot being bound to the account,
    which only a right password reaches. ``counted_as`` and ``trusted`` are the
    engine's (``Verifier.issue``): whose failures, and whether the owner asks.
    """
    issued = _issue(
        purpose,
        account=account,
        address=address,
        client=client,
        proven=proven,
        counted_as=counted_as,
        trusted=trusted,
    )
    request = MailRequest(
        kind=f"{purpose}_code",
        to=address.value,
        locale=current_locale(),
        context={
            "code": issued.code,
            "minutes": max(1, issued.expires_in // 60),
            # Each mail says when it was sent and has a subject of its own, so a
            # late one is told from the newest, and mail clients do not fold them.
            "sent_at": clock.now(),
            "code_in_subject": purpose in current_app.config["EMAILCODE_CODE_IN_SUBJECT"],
        },
        issued={
            "purpose": purpose,
            "account": account,
            "address": address.mailbox,
            "counted_as": counted_as or "",
        },
    )
    try:
        delivery = outbox().send(request, owner=account, ttl=issued.expires_in)
    except Exception:
        # Whatever went wrong, an undelivered code must not stay valid.
        _withdraw(
            purpose=purpose,
            account=account,
            address=address.mailbox,
            code=issued.code,
            to=address.value,
            counted_as=counted_as,
        )
        raise
    event("code.issued", account=account, address=address.value, purpose=purpose, delivery=delivery)
    return Sent(
        resend_after=issued.resend_after,
        expires_in=issued.expires_in,
        delivery=delivery,
        earlier=issued.earlier,
    )


def issue_unsent(purpose: Purpose, *, account: str, address: Address, client: str) -> int:
    """Issue a code that is never mailed, so the slot behaves as if one had been.

    Used where mailing a code would tell a stranger whether an account exists:
    the cooldown, attempt count, answers to guesses and the count of earlier codes
    still alive (returned, as ``Sent.earlier``) are then the same. Raises
    IssueRefused exactly when a real code would have been refused, so a notice
    sent in its place goes no more often than a code would.
    """
    return _issue(purpose, account=account, address=address, client=client).earlier


def revoke_every_code(account: str, addresses: Iterable[str]) -> int:
    """Void every outstanding code of an account: those bound to it (changing the email,
    adding an address) and those bound to each of its addresses alone (log-in by code,
    password reset), which know no account. Returns how many."""
    total = verifier().revoke_account(account)
    for value in set(addresses):
        total += verifier().revoke_account(address_account(Address(value)))
    return total


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
    """Verify and spend a typed code, log the outcome, and raise CodeRefused unless right."""
    try:
        verdict = verifier().verify(
            purpose=purpose,
            account=account,
            address=address.mailbox,
            code=code,
            client=client,
            counted_as=counted_as,
            trusted=trusted,
        )
    except TooManyFailures as capped:
        _log_limited(capped, account, address, purpose)
        raise
    event(
        "code.verified" if verdict.is_ok else "code.refused",
        account=account,
        address=address.value,
        purpose=purpose,
        outcome=verdict.outcome.value,
        attempts_left=verdict.attempts_left,
    )
    if not verdict.is_ok:
        raise CodeRefused(verdict)
    return verdict


def _issue(
    purpose: Purpose,
    *,
    account: str,
    address: Address,
    client: str,
    proven: bool = False,
    counted_as: str | None = None,
    trusted: bool = False,
) -> Issued:
    """Issue a code, then spend the mailbox's sending budget; on any refusal, nothing stays.

    The cooldown is checked first (a code refused by it spends no budget); the
    budget is taken atomically after, so racing requests cannot overshoot it.
    """
    try:
        issued = verifier().issue(
            purpose=purpose,
            account=account,
            address=address.mailbox,
            client=client,
            counted_as=counted_as,
            trusted=trusted,
        )
    except IssueRefused as refused:
        _log_limited(refused, account, address, purpose)
        raise
    try:
        take_sending_budgets(address, mailbox=not proven)
    except Limited as limited:
        verifier().withdraw(
            purpose=purpose,
            account=account,
            address=address.mailbox,
            code=issued.code,
            counted_as=counted_as,
        )
        event(
            "code.limited",
            account=account,
            address=address.value,
            purpose=purpose,
            limit=limited.scope,
            retry_after=limited.retry_after,
        )
        raise
    return issued


def _withdraw(
    *, purpose: str, account: str, address: str, code: str, to: str, counted_as: str | None
) -> None:
    """Void an undelivered code (``to`` is where it was going, for the event line).

    A code bound to an account may be asked for again at once. One bound to an
    address alone keeps its cooldown: a slot whose code nobody was sent (no account
    has the address) keeps it too, so a mailbox that refuses mail must not answer
    its next request otherwise (and spend its budget faster) than an unknown one.
    """
    withdrawn = verifier().withdraw(
        purpose=purpose,
        account=account,
        address=address,
        code=code,
        reopen=not account.startswith(_BY_ADDRESS),
        counted_as=counted_as,
    )
    if withdrawn:
        event("code.withdrawn", account=account, address=to, purpose=purpose)


def _withdraw_undelivered(sender: Any, *, request: MailRequest, **_: Any) -> None:
    """Void the code a mail request carried: it could not be delivered."""
    if request.issued:
        slot = request.issued
        _withdraw(
            purpose=slot["purpose"],
            account=slot["account"],
            address=slot["address"],
            code=str(request.context["code"]),
            to=request.to,
            counted_as=slot.get("counted_as") or None,
        )


def _log_limited(refused: IssueRefused, account: str, address: Address, purpose: str) -> None:
    reason = "failure_cap" if isinstance(refused, TooManyFailures) else "cooldown"
    event(
        "code.limited",
        account=account,
        address=address.value,
        purpose=purpose,
        limit=reason,
        retry_after=refused.retry_after,
    )
