"""Signing up by a code sent to the address: the account exists only once it is proven."""

from __future__ import annotations

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from campus import codes
from campus.accounts import AccountError, check_new_password, find_by_email
from campus.addresses import Address
from campus.auth import sign_in
from campus.email_change import refusal_message
from campus.errors import BadInput, Limited
from campus.extensions import db
from campus.forms import typed_address
from campus.mail.delivery import NOTICE_TTL
from campus.mail.messages import MailRequest
from campus.mail.outbox import outbox
from campus.models import Account, Role
from campus.passwords import hash_password
from campus.public_url import public_url
from campus.quiet import quiet
from verification import IssueRefused


def request_code(typed_email: object) -> None:
    """Answer at once; what the address gets is decided after the answer."""
    address = typed_address(typed_email)
    quiet().submit(_send, address.value, codes.client_tag(), locale=str(get_locale() or "zh"))


def _send(value: str, client: str) -> None:
    address = Address(value)
    name = codes.address_account(address)
    try:
        if find_by_email(address.key) is None:
            codes.send_code(codes.Purpose.SIGN_UP, name, address, client=client)
            return
        # The address has an account: tell its owner, send no code, and keep a
        # slot that answers guesses exactly as a real one would. Its cooldown
        # holds the notice back just as it would hold back a code.
        codes.issue_unsent(codes.Purpose.SIGN_UP, name, address, client=client)
    except (IssueRefused, Limited):
        return  # expected, and already logged as ``code.limited``
    outbox().send(
        MailRequest(
            kind="account_exists_notice",
            to=address.value,
            locale=str(get_locale() or "zh"),
            context={"reset_url": public_url("/password/reset")},
        ),
        owner=name,
        ttl=NOTICE_TTL,
    )


def complete(typed_email: object, code: str, password: str) -> Account:
    """Create the member once the code proves the address, and log them in."""
    address = typed_address(typed_email)
    try:
        check_new_password(address.value, password)
    except AccountError as exc:
        raise BadInput(password_message(exc), field="password") from exc
    verdict = codes.check_code(codes.Purpose.SIGN_UP, codes.address_account(address), address, code)
    if not verdict.is_ok:
        raise BadInput(refusal_message(verdict), field="code", attempts_left=verdict.attempts_left)
    account = Account(email=address.value, password_hash=hash_password(password), role=Role.MEMBER)
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()  # another sign-up for this address won the race
        raise BadInput(
            _("An account with this address already exists. Log in or reset the password."),
            field="email",
        ) from exc
    sign_in(account)
    return account


def password_message(error: AccountError) -> str:
    if "email" in str(error):
        return str(_("The password may not be the email address."))
    return str(_("The password needs at least %(count)d characters.", count=8))
