"""What moving to a new address and adding one share: a code to a free address, and to one
another account holds, a notice to its owner instead, answered exactly alike."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from campus.emailcode import Purpose, Sent, issue_unsent, policy, send_code
from campus.extensions import db
from campus.flows.notices import send_notice
from campus.models import Account, AccountEmail
from campus.support.addresses import Address
from campus.support.events import event
from campus.support.public_url import public_url


def send_code_or_tell_owner(
    purpose: Purpose, account: Account, address: Address, *, holder: int | None, client: str
) -> Sent:
    """Send a code to the address; if another account has it, tell that owner instead.

    ``holder`` is the id of the account that has the address (``holder_of``), or None.

    The two answers are the same, so the form cannot be used to find out which
    addresses have accounts. The taken address still gets a slot with a code
    nobody is sent, so guesses against it are answered as against a real one.
    """
    name = account.verification_account
    if holder is None or holder == account.id:
        return send_code(purpose, account=name, address=address, client=client)
    earlier = issue_unsent(purpose, account=name, address=address, client=client)
    rules = policy(purpose)
    delivery = send_notice(
        "address_in_use_notice",
        to=address.value,
        owner=name,
        context={"reset_url": public_url("/password/reset")},
        ttl=rules.ttl,
    )
    event("code.withheld", account=name, address=address.value)
    return Sent(
        resend_after=rules.resend_cooldown,
        expires_in=rules.ttl,
        delivery=delivery,
        earlier=earlier,
    )


# Built once: the statement is the same for every request, only the address differs.
_HOLDER = select(AccountEmail.account_id).where(func.lower(AccountEmail.email) == bindparam("key"))


def holder_of(address: Address) -> int | None:
    """The id of the account that has the address as any of its verified ones, or None."""
    found: int | None = db.session.scalar(_HOLDER, {"key": address.key})
    return found
