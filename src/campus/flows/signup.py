"""Signing up by a code sent to the address: the account exists only once it is proven."""

from __future__ import annotations

from campus.emailcode import Purpose, issue_unsent, send_code
from campus.flows.accounts import add_account
from campus.flows.by_address import after_the_answer, prove_for_new_password
from campus.flows.errors import check_domain
from campus.flows.notices import send_notice
from campus.models import Account, Role, find_by_email
from campus.support.addresses import Address
from campus.support.domains import refusal_for_membership
from campus.support.public_url import public_url


def request_code(address: Address, *, client: str) -> None:
    """Answer at once; what the address gets is decided after the answer.

    A domain the campus does not allow is refused first, before any mail: that
    is about the domain alone, so it says nothing about any account.
    """
    check_domain(refusal_for_membership(address))
    after_the_answer(_send, address, client=client)


def _send(address: Address, name: str, client: str) -> None:
    if find_by_email(address.key) is None:
        send_code(Purpose.SIGN_UP, account=name, address=address, client=client)
        return
    # The address has an account: tell its owner, send no code, and keep a
    # slot that answers guesses exactly as a real one would. Its cooldown
    # holds the notice back just as it would hold back a code.
    issue_unsent(Purpose.SIGN_UP, account=name, address=address, client=client)
    send_notice(
        "account_exists_notice",
        to=address.value,
        owner=name,
        context={"reset_url": public_url("/password/reset")},
    )


def complete(address: Address, *, code: str, password: str, client: str) -> Account:
    """Create the member once the code proves the address (AccountExists if a race won)."""
    check_domain(refusal_for_membership(address))
    counting = {"client": client}  # never an account's: the address has none yet
    prove_for_new_password(
        Purpose.SIGN_UP, address, code=code, password=password, counting=counting
    )
    return add_account(address, password, role=Role.MEMBER)
