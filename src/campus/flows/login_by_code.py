"""Logging in with a code mailed to the account's address, instead of (or after) a password.

The request is answered alike whether or not an account has the address (the
work runs after the answer); an unknown address gets no mail, only a slot that
answers guesses as a real one would. The code is bound to the address, like a
reset code, and a right one signs the account in as a fresh log-in.
"""

from __future__ import annotations

from campus.emailcode import (
    CodeRefused,
    Outcome,
    Purpose,
    Sent,
    Verdict,
    address_account,
    check_code,
    send_code,
)
from campus.flows.askers import Asker
from campus.flows.by_address import code_if_account, counted_for
from campus.models import Account
from campus.support.addresses import Address


def request_code(address: Address, *, asker: Asker) -> None:
    """Answer at once; whether a code goes out is decided after the answer."""
    code_if_account(Purpose.LOG_IN, address, asker=asker)


def send_confirmation(account: Account, *, asker: Asker) -> Sent:
    """Mail the code that completes a password log-in (``STAFF_LOGIN_CONFIRM_BY_CODE``).

    Its slot is bound to the account, not to the address as an anonymous log-in
    code's is: strangers asking for codes to the same address, or guessing at
    them, reach only the address's slot and budget, and cannot hold this one back.
    The password proved the owner, whom the ceiling on everyone's failures does
    not stop.
    """
    address = Address(account.email)
    client, _ = asker.counted(account)
    name = account.verification_account
    return send_code(
        Purpose.LOG_IN, account=name, address=address, client=client, proven=True, trusted=True
    )


def confirm(account: Account, *, code: str, asker: Asker) -> Account:
    """The account, once the code its password log-in was sent proves the mailbox."""
    address = Address(account.email)
    client, _ = asker.counted(account)
    name = account.verification_account
    check_code(
        Purpose.LOG_IN, account=name, address=address, code=code, client=client, trusted=True
    )
    return account


def complete(address: Address, *, code: str, asker: Asker) -> Account:
    """The account whose address the code proves (CodeRefused otherwise)."""
    account, counting = counted_for(address, asker)
    name = address_account(address)
    check_code(Purpose.LOG_IN, account=name, address=address, code=code, **counting)
    if account is None:
        raise CodeRefused(Verdict(Outcome.USED_UP))  # the account went while the code waited
    return account
