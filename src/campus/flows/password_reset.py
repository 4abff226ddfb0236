"""Resetting a forgotten password by a code sent to the account's address."""

from __future__ import annotations

from campus.emailcode import CodeRefused, Outcome, Purpose, Verdict
from campus.flows.askers import Asker
from campus.flows.by_address import code_if_account, counted_for, prove_for_new_password
from campus.flows.notices import tell_every_address, when
from campus.flows.passwords import change_password
from campus.models import Account, utcnow
from campus.support.addresses import Address
from campus.support.events import event


def request_code(address: Address, *, asker: Asker) -> None:
    """Answer at once; whether a code goes out is decided after the answer."""
    code_if_account(Purpose.RESET_PASSWORD, address, asker=asker)


def complete(address: Address, *, code: str, password: str, asker: Asker) -> Account:
    """Set the new password once the code proves the address; every session ends."""
    account, counting = counted_for(address, asker)
    prove_for_new_password(
        Purpose.RESET_PASSWORD, address, code=code, password=password, counting=counting
    )
    if account is None:
        raise CodeRefused(Verdict(Outcome.USED_UP))  # the account went while the code waited
    change_password(account, password)  # every code of the account ends, this one's too
    event("password.reset", account=account.verification_account, address=account.email)
    tell_every_address(account, "password_changed_notice", {"changed_at": when(utcnow())})
    return account
