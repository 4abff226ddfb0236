"""Changing an account's email by a code sent to the new address."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from campus.emailcode import (
    CodeRefused,
    Outcome,
    Purpose,
    Sent,
    Verdict,
    check_code,
    revoke_every_code,
)
from campus.extensions import db
from campus.flows.errors import SameAddress, check_domain
from campus.flows.new_address import holder_of, send_code_or_tell_owner
from campus.flows.notices import send_notice_after_the_fact, when
from campus.models import Account, AccountEmail, utcnow
from campus.support.addresses import Address, mask
from campus.support.domains import refusal_for_any, refusal_for_membership
from campus.support.events import event


def request_change(account: Account, address: Address, *, client: str) -> Sent:
    """Send a code to the new address, or tell the owner if another account has it."""
    holder = _check_new(account, address)
    return send_code_or_tell_owner(
        Purpose.CHANGE_EMAIL, account, address, holder=holder, client=client
    )


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
    revoke_every_code(name, [*account.verified_addresses, address.value])
    old_address = account.email
    row = primary(account)  # loaded before any change, so loading it flushes none
    account.email = address.value
    row.email = address.value
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


def _check_new(account: Account, address: Address) -> int | None:
    """The id of the account that holds the address, or None; SameAddress when it is this
    account's own, DomainRefused when the domain may not be (a member's address proves
    membership: the sign-up rules apply). Neither reveals anything about other accounts.

    One look-up answers both questions: is it the account's own, and does another have it.
    """
    holder = holder_of(address)
    if holder == account.id:
        raise SameAddress(address.value)
    rules = refusal_for_any if account.is_staff else refusal_for_membership
    check_domain(rules(address))
    return holder


def primary(account: Account) -> AccountEmail:
    return next(row for row in account.addresses if row.is_primary)
