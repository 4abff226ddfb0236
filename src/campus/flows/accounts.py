"""Creating accounts from the shell or a proven sign-up."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from campus.extensions import db
from campus.flows.errors import AccountExists
from campus.flows.passwords import check_new_password
from campus.models import Account, AccountEmail, Role, find_by_email
from campus.support.addresses import Address, parse_address
from campus.support.passwords import hash_password


def create_account(email: str, password: str, *, role: Role) -> Account:
    """An account for a typed address (BadAddress, WeakPassword or AccountExists otherwise)."""
    address = parse_address(email)
    check_new_password(address.value, password)
    if find_by_email(address.key) is not None:
        raise AccountExists(f"an account with {address.value} already exists")
    return add_account(address, password, role=role)


def add_account(address: Address, password: str, *, role: Role) -> Account:
    """Store a new account; AccountExists when a racing request took the address first."""
    account = Account(email=address.value, password_hash=hash_password(password), role=role)
    account.addresses.append(AccountEmail(email=address.value, is_primary=True, place=1))
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountExists(f"an account with {address.value} already exists") from exc
    return account
