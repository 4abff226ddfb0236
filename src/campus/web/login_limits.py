"""Limits on password guessing: per account, per client, per known browser.

Every password try costs an argon2 hash, so the budgets are taken *before*
the hash runs, atomically in the shared limit storage (Redis or the app's
database): a refused try costs no hashing, and parallel tries cannot overshoot.

- A browser the account has logged in on before (``devices``) spends its own
  budget, ``LOGIN_LIMIT_PER_DEVICE``: strangers can never lock the owner's
  browsers out.
- Any other try spends the budget of the typed address (its mailbox), whether
  or not an account has it, so a refusal says nothing about the account; and
  its failures count against the client address, ``LOGIN_LIMIT_PER_IP``.

A right password from an unknown browser makes it known (``sign_in``), and a
password reset by code does too, so an owner whose account is under attack
gets back in through the mailbox.
"""

from __future__ import annotations

import unicodedata

from flask import request

from campus.extensions import db
from campus.models import Account, find_by_email
from campus.support.addresses import BadAddress, parse_address
from campus.support.budgets import Budget
from campus.support.keyed import keyed
from campus.support.passwords import check_password
from campus.web.devices import known_device

MAX_EMAIL = 320


def _login_key(typed: str) -> str:
    """The mailbox a typed address names, however it is spelt.

    Compatibility forms fold to their letters first (KELVIN SIGN to ``k``, full-width
    and ligature letters, long s), as a database's or a person's lower() may: every
    spelling that reaches one account must spend that one budget, also the spellings
    the validator refuses.
    """
    folded = unicodedata.normalize("NFKC", typed).casefold().strip()
    try:
        return parse_address(folded).mailbox
    except BadAddress:
        return folded


def authenticate(typed_email: str, password: str) -> Account | None:
    """The account when the password is right; None when wrong; Limited (429) when over a budget.

    No argon2 hash runs for a try that a budget refuses.
    """
    account = find_by_email(typed_email.strip()) if len(typed_email) <= MAX_EMAIL else None
    # Hand the request's connection back before the budget takes its own: a
    # request holding two at once lets a burst of log-ins drain the pool, each
    # waiting for a second connection that no one will return.
    db.session.commit()
    device = known_device()
    is_known = device is not None and account is not None and device.is_for(account)
    client = keyed("login|ip", request.remote_addr or "")
    per_client = Budget("LOGIN_LIMIT_PER_IP", "login-per-ip", client)
    if device is not None and is_known:
        key = keyed("login|device", device.nonce)
        Budget("LOGIN_LIMIT_PER_DEVICE", "login-per-device", key).take()
    else:
        per_client.check()
        key = keyed("login|account", _login_key(typed_email))
        Budget("LOGIN_LIMIT_PER_ACCOUNT", "login-per-account", key).take()
    stored = account.password_hash if account else None
    if check_password(stored, password):
        return account
    if not is_known:
        per_client.take()
    return None
