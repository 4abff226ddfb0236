"""Changing an account's email by a code sent to the new address."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Response
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from campus import codes
from campus.addresses import Address, mask
from campus.auth import renew_session
from campus.errors import BadInput
from campus.events import event
from campus.extensions import db
from campus.forms import typed_address
from campus.mail.delivery import NOTICE_TTL
from campus.mail.messages import MailRequest
from campus.mail.outbox import MailUnavailable, outbox
from campus.models import Account, utcnow
from campus.responses import ok
from verification import Outcome, Verdict

log = logging.getLogger(__name__)


def request_change(account: Account, typed_email: object, *, field: str = "email") -> codes.Sent:
    """Send a code to the new address, if the account may move there."""
    address = _available_address(account, typed_email, field)
    return codes.send_code(codes.Purpose.CHANGE_EMAIL, account.verification_account, address)


def confirm_change(
    account: Account, typed_email: object, code: str, *, email_field: str = "email", code_field: str
) -> Address:
    """Move the account to the new address when the code proves it; return the address."""
    address = _available_address(account, typed_email, email_field)
    verdict = codes.check_code(
        codes.Purpose.CHANGE_EMAIL, account.verification_account, address, code
    )
    if not verdict.is_ok:
        raise BadInput(
            refusal_message(verdict), field=code_field, attempts_left=verdict.attempts_left
        )
    # Revoking first leaves the safe side on any failure below: at worst the
    # person asks for a new code, never is a stale code left valid.
    codes.verifier().revoke_account(account.verification_account)
    old_address = account.email
    account.email = address.value
    account.email_changed_at = utcnow()
    account.end_all_sessions()
    try:
        db.session.commit()
    except IntegrityError as exc:
        # Another account confirmed the same address a moment earlier.
        db.session.rollback()
        raise BadInput(_("That address belongs to another account."), field=email_field) from exc
    renew_session(account)
    event(
        "email.changed",
        account=account.verification_account,
        address=address.value,
        old_address=mask(old_address),
    )
    _tell_the_old_address(
        old_address, address, account.email_changed_at, account.verification_account
    )
    return address


def _tell_the_old_address(old: str, new: Address, when: datetime, account_name: str) -> None:
    """The old address hears of the change: the one warning a hijacked account gets."""
    request = MailRequest(
        kind="email_changed_notice",
        to=old,
        locale=str(get_locale() or "zh"),
        context={
            "new_address": mask(new.value),
            "changed_at": format_datetime(when, "yyyy-MM-dd HH:mm") + " UTC",
        },
    )
    try:
        outbox().send(request, owner=account_name, ttl=NOTICE_TTL)
    except MailUnavailable:
        # The change stands either way; the failure is logged with its cause.
        log.exception("notice of email change not sent")


def code_sent(sent: codes.Sent) -> Response:
    """The answer to a code request on behalf of a logged-in account."""
    return ok(
        _("The code was sent. Please check your inbox."),
        resend_after=sent.resend_after,
        expires_in=sent.expires_in,
        delivery=sent.delivery,
    )


def refusal_message(verdict: Verdict) -> str:
    if verdict.outcome is Outcome.WRONG:
        return str(_("Wrong code. %(count)d tries left.", count=verdict.attempts_left))
    if verdict.outcome is Outcome.EXPIRED:
        return str(_("The code has expired. Please ask for a new one."))
    return str(_("The code is no longer valid. Please ask for a new one."))


def _available_address(account: Account, typed_email: object, field: str) -> Address:
    """A valid address that is neither the account's own nor another account's."""
    address = typed_address(typed_email, field)
    if address.key == account.email.lower():
        raise BadInput(_("That is already your email address."), field=field)
    taken = db.session.scalar(
        select(Account.id).where(func.lower(Account.email) == address.key, Account.id != account.id)
    )
    if taken is not None:
        raise BadInput(_("That address belongs to another account."), field=field)
    return address
