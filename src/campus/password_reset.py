"""Resetting a forgotten password by a code sent to the account's address."""

from __future__ import annotations

import logging

from flask_babel import format_datetime, get_locale

from campus import codes
from campus.accounts import AccountError, change_password, check_new_password, find_by_email
from campus.addresses import Address
from campus.email_change import refusal_message
from campus.errors import BadInput, Limited
from campus.events import event
from campus.forms import typed_address
from campus.mail.delivery import NOTICE_TTL
from campus.mail.messages import MailRequest
from campus.mail.outbox import MailUnavailable, outbox
from campus.models import Account, utcnow
from campus.quiet import quiet
from campus.signup import password_message
from verification import IssueRefused

log = logging.getLogger(__name__)


def request_code(typed_email: object) -> None:
    """Answer at once; whether a code goes out is decided after the answer."""
    address = typed_address(typed_email)
    quiet().submit(_send, address.value, codes.client_tag(), locale=str(get_locale() or "zh"))


def _send(value: str, client: str) -> None:
    address = Address(value)
    name = codes.address_account(address)
    try:
        if find_by_email(address.key) is None:
            # No account: nothing is sent, but the slot answers guesses as a real one would.
            codes.issue_unsent(codes.Purpose.RESET_PASSWORD, name, address, client=client)
            return
        codes.send_code(codes.Purpose.RESET_PASSWORD, name, address, client=client)
    except (IssueRefused, Limited):
        return  # expected, and already logged as ``code.limited``


def complete(typed_email: object, code: str, password: str) -> Account:
    """Set the new password once the code proves the address; every session ends."""
    address = typed_address(typed_email)
    try:
        check_new_password(address.value, password)
    except AccountError as exc:
        raise BadInput(password_message(exc), field="password") from exc
    name = codes.address_account(address)
    verdict = codes.check_code(codes.Purpose.RESET_PASSWORD, name, address, code)
    account = find_by_email(address.key) if verdict.is_ok else None
    if account is None:
        raise BadInput(refusal_message(verdict), field="code", attempts_left=verdict.attempts_left)
    change_password(account, password)
    codes.verifier().revoke_account(name)
    event("password.reset", account=account.verification_account, address=account.email)
    _tell_the_account(account)
    return account


def _tell_the_account(account: Account) -> None:
    request = MailRequest(
        kind="password_changed_notice",
        to=account.email,
        locale=str(get_locale() or "zh"),
        context={"changed_at": format_datetime(utcnow(), "yyyy-MM-dd HH:mm") + " UTC"},
    )
    try:
        outbox().send(request, owner=account.verification_account, ttl=NOTICE_TTL)
    except MailUnavailable:
        log.exception("notice of password change not sent")
