"""Changing an account's email by a code sent to the new address."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campus.emailcode import (
    CodeRefused,
    Outcome,
    Purpose,
    Sent,
    Verdict,
    check_code,
    issue_unsent,
    send_code,
    verifier,
)
from campus.extensions import db
from campus.flows.errors import SameAddress, check_domain
from campus.flows.notices import send_notice, send_notice_after_the_fact, when
from campus.models import Account, AccountEmail, utcnow
from campus.support.addresses import Address, mask
from campus.support.domains import refusal_for_any, refusal_for_membership
from campus.support.events import event
from campus.support.public_url import public_url


def request_change(account: Account, address: Address, *, client: str) -> Sent:
    """Send a code to the new address; if another account has it, tell that owner instead.

    The two answers are the same, so the form cannot be used to find out which
    addresses have accounts. The taken address still gets a slot with a code
    nobody is sent, so guesses against it are answered as against a real one.
    """
    _check_new(account, address)
    name = account.verification_account
    if not _is_taken(account, address):
        return send_code(Purpose.CHANGE_EMAIL, account=name, address=address, client=client)
    issue_unsent(Purpose.CHANGE_EMAIL, account=name, address=address, client=client)
    policy = verifier().policy
    delivery = send_notice(
        "address_in_use_notice",
        to=address.value,
        owner=name,
        context={"reset_url": public_url("/password/reset")},
        ttl=policy.ttl,
    )
    event("code.withheld", account=name, address=address.value)
    return Sent(resend_after=policy.resend_cooldown, expires_in=policy.ttl, delivery=delivery)


def confirm_change(account: Account, address: Address, *, code: str, client: str) -> None:
    """Move the account to the new address when the code proves it.

    Every session of the account ends (the caller starts a new one for this
    browser). An address another account holds fails here like a wrong code,
    and counts as one: its slot holds only a code that was never sent.
    """
    _check_new(account, address)
    name = account.verification_account
    check_code(Purpose.CHANGE_EMAIL, account=name, address=address, code=code, client=client)
    # Revoking first leaves the safe side on any failure below: at worst the
    # person asks for a new code, never is a stale code left valid.
    verifier().revoke_account(name)
    old_address = account.email
    account.email = address.value
    primary(account).email = address.value
    account.email_changed_at = utcnow()
    account.end_all_sessions()
    try:
        db.session.commit()
    except IntegrityError as exc:
        # Another account took the address after this code was sent: answer
        # as for a spent code, which is what it now is.
        db.session.rollback()
        raise CodeRefused(Verdict(Outcome.USED_UP)) from exc
    event("email.changed", account=name, address=address.value, old_address=mask(old_address))
    # The old address hears of the change (the one warning a hijacked account gets),
    # and so does every other address the account keeps.
    context = {"new_address": mask(address.value), "changed_at": when(account.email_changed_at)}
    for to in [old_address, *account.verified_addresses[1:]]:
        send_notice_after_the_fact("email_changed_notice", to=to, owner=name, context=context)


def _check_new(account: Account, address: Address) -> None:
    """SameAddress when it is the account's own; DomainRefused when the domain may not be
    (a member's address proves membership: the sign-up rules apply). Neither reveals
    anything about other accounts."""
    if address.key in {own.lower() for own in account.verified_addresses}:
        raise SameAddress(address.value)
    rules = refusal_for_any if account.is_staff else refusal_for_membership
    check_domain(rules(address))


def _is_taken(account: Account, address: Address) -> bool:
    """Whether another account has the address, as any of its verified addresses."""
    taken = db.session.scalar(
        select(AccountEmail.id).where(
            func.lower(AccountEmail.email) == address.key, AccountEmail.account_id != account.id
        )
    )
    return taken is not None


def primary(account: Account) -> AccountEmail:
    return next(row for row in account.addresses if row.is_primary)
