"""A second (and third) address that outlives the campus mailbox.

An account keeps up to three verified addresses, one primary. One is added by a
code sent to it; one is removed, or made primary, by its owner (the views ask
for a recent log-in). The primary proves membership, so the campus domain rule
applies to it; any other address only may not be a throwaway. An address
belongs to one account: asking to add one another account holds answers like a
free one, and its owner is told instead of sent a code. Every change is told
to every address the account keeps.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from campus.emailcode import (
    CodeRefused,
    Outcome,
    Purpose,
    Sent,
    Verdict,
    check_code,
)
from campus.extensions import db
from campus.flows.errors import (
    FlowError,
    SameAddress,
    check_domain,
)
from campus.flows.new_address import holder_of, send_code_or_tell_owner
from campus.flows.notices import tell_every_address, when
from campus.models import MAX_ADDRESSES, Account, AccountEmail, utcnow
from campus.support.addresses import Address, mask
from campus.support.domains import refusal_for_any, refusal_for_membership
from campus.support.events import event

__all__ = ["MAX_ADDRESSES", "NotYours", "PrimaryStays", "TooManyAddresses"]


class TooManyAddresses(FlowError):
    """The account already keeps the most addresses it may."""


class NotYours(FlowError):
    """The address is not one of the account's."""


class PrimaryStays(FlowError):
    """The primary address cannot be removed; make another primary first."""


def request_add(account: Account, address: Address, *, client: str) -> Sent:
    """Send a code to the new address, or tell the owner if another account has it."""
    _check_addable(account, address)
    return send_code_or_tell_owner(
        Purpose.ADD_EMAIL, account, address, holder=holder_of(address), client=client
    )


def confirm_add(account: Account, address: Address, *, code: str, client: str) -> None:
    """Add the address once the code proves it (fails like a wrong code if it is taken)."""
    _check_addable(account, address)
    name = account.verification_account
    check_code(Purpose.ADD_EMAIL, account=name, address=address, code=code, client=client)
    taken = {row.place for row in account.addresses}
    place = min(set(range(1, MAX_ADDRESSES + 1)) - taken)
    account.addresses.append(AccountEmail(email=address.value, is_primary=False, place=place))
    try:
        db.session.commit()
    except IntegrityError as exc:
        # Another account took the address, or a racing addition took the place,
        # after the code was sent: answer as for a spent code, which it now is.
        db.session.rollback()
        raise CodeRefused(Verdict(Outcome.USED_UP)) from exc
    event("email.added", account=name, address=address.value)
    _tell(account, "added", address.value)


def make_primary(account: Account, address: Address) -> None:
    """Make one of the account's addresses its primary one (the campus rule applies)."""
    lock_addresses(account)
    row = _own(account, address)
    if row.is_primary:
        raise SameAddress(address.value)
    if not account.is_staff:
        check_domain(refusal_for_membership(address))
    for other in account.addresses:
        other.is_primary = other is row
    account.email = row.email
    account.email_changed_at = utcnow()
    db.session.commit()
    event("email.primary", account=account.verification_account, address=row.email)
    _tell(account, "primary", row.email)


def remove(account: Account, address: Address) -> None:
    """Remove an address that is not the primary; it hears of it too."""
    lock_addresses(account)
    row = _own(account, address)
    if row.is_primary:
        raise PrimaryStays(address.value)
    removed = row.email
    account.addresses.remove(row)
    db.session.commit()
    event("email.removed", account=account.verification_account, address=removed)
    _tell(account, "removed", removed, also=removed)


def lock_addresses(account: Account) -> None:
    """Hold the account's row until this transaction ends, and read its addresses anew.

    Changes to one account's addresses decide from what they read (which one is
    primary, which may go), so two at once must not both decide from the same
    reading: racing "make primary" and "remove" left no primary. An UPDATE of the
    account's own row is the one lock both databases take alike, a row lock on
    PostgreSQL and the write lock on SQLite, and the second change waits for it.
    """
    db.session.execute(
        update(Account).where(Account.id == account.id).values(id=Account.id),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(account, ["addresses"])


def _check_addable(account: Account, address: Address) -> None:
    if account.has_address(address.key):
        raise SameAddress(address.value)
    if len(account.addresses) >= MAX_ADDRESSES:
        raise TooManyAddresses(f"at most {MAX_ADDRESSES} addresses")
    check_domain(refusal_for_any(address))


def _own(account: Account, address: Address) -> AccountEmail:
    for row in account.addresses:
        if row.email.lower() == address.key:
            return row
    raise NotYours(address.value)


def _tell(account: Account, change: str, address: str, *, also: str | None = None) -> None:
    context = {"change": change, "address": mask(address), "changed_at": when(utcnow())}
    tell_every_address(account, "addresses_changed_notice", context, also=also)
