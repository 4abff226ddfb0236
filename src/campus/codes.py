"""The app's binding to the verification engine: one verifier per app, and sending codes."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from flask import Flask, current_app, request
from flask_babel import get_locale

from campus.addresses import Address
from campus.errors import Limited
from campus.events import event
from campus.extensions import db
from campus.keyed import keyed
from campus.limits import take_sending_budgets
from campus.mail.messages import MailRequest
from campus.mail.outbox import outbox
from campus.models import verification_codes, verification_failures
from verification import Issued, IssueRefused, Policy, TooManyFailures, Verdict, Verifier
from verification.stores.base import CodeStore
from verification.stores.redis import RedisCodeStore
from verification.stores.sql import SqlCodeStore


class Purpose(enum.StrEnum):
    """What a code proves. A code for one purpose is worthless for any other."""

    CHANGE_EMAIL = "change_email"
    SIGN_UP = "sign_up"
    RESET_PASSWORD = "reset_password"  # noqa: S105  (a purpose, not a password)


def address_account(address: Address) -> str:
    """The account name for flows keyed by an address alone (sign-up, reset).

    It is the same whether or not an account has the address, so nothing about
    the codes for it tells the two apart; and the same for every spelling of one
    mailbox, so ``+tags`` share one cooldown and one failure count.
    """
    return f"addr:{keyed('address', address.mailbox)}"


def client_tag() -> str:
    """Who is asking, for the engine's per-client failure cap: a keyed digest of
    the client's network address (as ProxyFix reports it), naming no one."""
    return keyed("client", request.remote_addr or "", length=24)


@dataclass(frozen=True)
class Sent:
    """What the page needs after a code went out."""

    resend_after: int
    expires_in: int
    delivery: str


def init_app(app: Flask) -> None:
    """Build the verifier once from config and keep it in ``app.extensions``."""
    store: CodeStore
    if app.config.get("REDIS_URL"):
        store = RedisCodeStore.from_url(app.config["REDIS_URL"])
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


def verifier() -> Verifier:
    found: Verifier = current_app.extensions["campus.verifier"]
    return found


def send_code(purpose: Purpose, account: str, address: Address, *, client: str) -> Sent:
    """Issue a code and mail it; if the mail cannot go, the code does not stay valid."""
    engine = verifier()
    issued = _issue(purpose, account, address, client=client)
    request = MailRequest(
        kind=f"{purpose}_code",
        to=address.value,
        locale=str(get_locale() or "zh"),
        context={"code": issued.code, "minutes": max(1, issued.expires_in // 60)},
        issued={"purpose": purpose, "account": account, "address": address.mailbox},
    )
    try:
        delivery = outbox().send(request, owner=account, ttl=issued.expires_in)
    except Exception:
        # Whatever went wrong, an undelivered code must not stay valid.
        engine.withdraw(issued)
        event("code.withdrawn", account=account, address=address.value, purpose=purpose)
        raise
    event("code.issued", account=account, address=address.value, purpose=purpose, delivery=delivery)
    return Sent(resend_after=issued.resend_after, expires_in=issued.expires_in, delivery=delivery)


def issue_unsent(purpose: Purpose, account: str, address: Address, *, client: str) -> None:
    """Issue a code that is never mailed, so the slot behaves as if one had been.

    Used where mailing a code would tell a stranger whether an account exists:
    the cooldown, attempt count and answers to guesses are then the same. Raises
    IssueRefused exactly when a real code would have been refused, so a notice
    sent in its place goes no more often than a code would.
    """
    _issue(purpose, account, address, client=client)


def _issue(purpose: Purpose, account: str, address: Address, *, client: str) -> Issued:
    """Issue a code, then spend the mailbox's sending budget; on any refusal, nothing stays.

    The cooldown is checked first (a code refused by it spends no budget); the
    budget is taken atomically after, so racing requests cannot overshoot it.
    """
    engine = verifier()
    try:
        issued = engine.issue(purpose, account, address.mailbox, client=client)
    except IssueRefused as refused:
        _log_limited(refused, account, address, purpose)
        raise
    try:
        take_sending_budgets(address)
    except Limited as limited:
        engine.withdraw(issued)
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


def withdraw(request: MailRequest) -> None:
    """Void the code a mail request carries: it could not be delivered."""
    if not request.issued:
        return
    issued = Issued(
        purpose=request.issued["purpose"],
        account=request.issued["account"],
        address=request.issued["address"],
        code=str(request.context["code"]),
        expires_in=0,
        resend_after=0,
    )
    if verifier().withdraw(issued):
        event("code.withdrawn", account=issued.account, address=request.to, purpose=issued.purpose)


def check_code(purpose: Purpose, account: str, address: Address, code: str) -> Verdict:
    """Verify and spend a typed code from this request's client, and log the outcome."""
    try:
        verdict = verifier().verify(purpose, account, address.mailbox, code, client=client_tag())
    except TooManyFailures as capped:
        _log_limited(capped, account, address, purpose)
        raise
    name = "code.verified" if verdict.is_ok else "code.refused"
    event(
        name,
        account=account,
        address=address.value,
        purpose=purpose,
        outcome=verdict.outcome.value,
        attempts_left=verdict.attempts_left,
    )
    return verdict


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
