"""Password rules, and changing a password: every session and outstanding code ends."""

from __future__ import annotations

from campus import emailcode
from campus.extensions import db
from campus.flows.errors import WeakPassword
from campus.models import Account
from campus.support.passwords import hash_password

MIN_PASSWORD = 8


def check_new_password(email: str, password: str) -> None:
    """Raise WeakPassword unless ``password`` may protect the account at ``email``."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(is_address=False, min_length=MIN_PASSWORD)
    if password.lower() == email.lower():
        raise WeakPassword(is_address=True, min_length=MIN_PASSWORD)


def change_password(account: Account, password: str) -> None:
    """Set a new password; every session and every outstanding code of the account ends."""
    check_new_password(account.email, password)
    emailcode.revoke_every_code(account.verification_account, account.verified_addresses)
    account.password_hash = hash_password(password)
    account.end_all_sessions()
    db.session.commit()
