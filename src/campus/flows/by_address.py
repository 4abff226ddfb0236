"""What sign-up and password reset share: codes for an address alone, decided after the answer.

Both answer a code request the same whether or not an account has the
address. Looking it up, issuing the code and sending the mail happen after
the answer (``support.quiet``), so the answer cannot tell what they found; and
both are keyed by the address's own account name (``emailcode.address_account``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from campus.emailcode import (
    IssueRefused,
    Purpose,
    address_account,
    check_code,
    issue_unsent,
    send_code,
)
from campus.flows.askers import Asker
from campus.flows.passwords import check_new_password
from campus.models import Account, find_by_email
from campus.support.addresses import Address
from campus.support.budgets import Limited
from campus.support.locale import current_locale
from campus.support.quiet import quiet

Job = Callable[[Address, str, str], None]


def after_the_answer(job: Job, address: Address, *, client: str) -> None:
    """Run ``job(address, account name, client)`` once the request has answered."""
    quiet().submit(_run, job, address.value, client, locale=current_locale())


def code_if_account(purpose: Purpose, address: Address, *, asker: Asker) -> None:
    """After the answer: a code when an account has the address; else nothing is sent, but
    the slot answers guesses as a real one would (password reset, log-in by code).

    A code for an account's address counts its failures for the account, so every
    address of one account shares one cap (``counted_for``).
    """
    after_the_answer(partial(_code_if_account, purpose, asker), address, client=asker.client)


def _code_if_account(
    purpose: Purpose, asker: Asker, address: Address, name: str, client: str
) -> None:
    account, counting = counted_for(address, asker)
    if account is None:
        issue_unsent(purpose, account=name, address=address, client=client)
        return
    send_code(purpose, account=name, address=address, **counting)


def counted_for(address: Address, asker: Asker) -> tuple[Account | None, dict[str, Any]]:
    """The account that has the address, and how its codes' failures are counted: for
    that account (and as its owner, from its owner's browser), or for the address alone."""
    account = find_by_email(address.key)
    if account is None:
        return None, {"client": asker.client}
    client, trusted = asker.counted(account)
    return account, {
        "client": client,
        "counted_as": account.verification_account,
        "trusted": trusted,
    }


def _run(job: Job, value: str, client: str) -> None:
    address = Address(value)
    try:
        job(address, address_account(address), client)
    except (IssueRefused, Limited):
        return  # expected, and already logged as ``code.limited``


def prove_for_new_password(
    purpose: Purpose, address: Address, *, code: str, password: str, counting: dict[str, Any]
) -> str:
    """Check the new password's rules, then spend the code; return the address's account name.

    The password is checked first so a weak one costs no try of the code.
    ``counting``: the client and how failures count (``counted_for``).
    """
    check_new_password(address.value, password)
    name = address_account(address)
    check_code(purpose, account=name, address=address, code=code, **counting)
    return name
