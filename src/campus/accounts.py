"""Accounts: creating them and checking passwords."""

from __future__ import annotations

from sqlalchemy import func, select

from campus.addresses import parse_address
from campus.extensions import db
from campus.models import Account, Role
from campus.passwords import hash_password

MIN_PASSWORD = 8


class AccountError(ValueError):
    """The account cannot be created as asked; the message says why."""


def find_by_email(email: str) -> Account | None:
    return db.session.scalar(select(Account).where(func.lower(Account.email) == email.lower()))


def change_password(account: Account, password: str) -> None:
    """Set a new password; every session and every outstanding code of the account ends."""
    check_new_password(account.email, password)
    from campus.codes import verifier

    verifier().revoke_account(account.verification_account)
    account.password_hash = hash_password(password)
    account.end_all_sessions()
    db.session.commit()


def check_new_password(email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if password.lower() == email.lower():
        raise AccountError("the password may not be the email address")


def create_account(email: str, password: str, role: Role = Role.STAFF) -> Account:
    address = parse_address(email)
    check_new_password(address.value, password)
    if find_by_email(address.key) is not None:
        raise AccountError(f"an account with {address.value} already exists")
    account = Account(email=address.value, password_hash=hash_password(password), role=role)
    db.session.add(account)
    db.session.commit()
    return account
