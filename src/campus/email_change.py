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
from campus.public_url import public_url
from campus.responses import ok
from verification import Outcome, Verdict

log = logging.getLogger(__name__)


def request_change(account: Account, typed_email: object, *, field: str = "email") -> codes.Sent:
    """Send a code to the new address; if another account has it, tell that owner instead.

    The two answers are the same, so the form cannot be used to find out which
    addresses have accounts. The taken address still gets a slot with a code
    nobody is sent, so guesses against it are answered as against a real one.
    """
    address = _new_address(account, typed_email, field)
    client = codes.client_tag()
    if not _is_taken(account, address):
        return codes.send_code(
            codes.Purpose.CHANGE_EMAIL, account.verification_account, address, client=client
        )
    codes.issue_unsent(
        codes.Purpose.CHANGE_EMAIL, account.verification_account, address, client=client
    )
    notice = MailRequest(
        kind="address_in_use_notice",
        to=address.value,
        locale=str(get_locale() or "zh"),
        context={"reset_url": public_url("/password/reset")},
    )
    policy = codes.verifier().policy
    delivery = outbox().send(notice, owner=account.verification_account, ttl=policy.ttl)
    event("code.withheld", account=account.verification_account, address=address.value)
    return codes.Sent(resend_after=policy.resend_cooldown, expires_in=policy.ttl, delivery=delivery)


def confirm_change(
    account: Account, typed_email: object, code: str, *, email_field: str = "email", code_field: str
) -> Address:
    """Move the account to the new address when the code proves it; return the address.

    An address another account holds fails here like a wrong code, and counts as
    one: its slot holds only a code that was never sent.
    """
    address = _new_address(account, typed_email, email_field)
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
        # Another account took the address after this code was sent: answer
        # as for a spent code, which is what it now is.
        db.session.rollback()
        spent = Verdict(Outcome.USED_UP)
        raise BadInput(refusal_message(spent), field=code_field) from exc
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


def _new_address(account: Account, typed_email: object, field: str) -> Address:
    """A valid address that is not the account's own (telling so reveals nothing)."""
    address = typed_address(typed_email, field)
    if address.key == account.email.lower():
        raise BadInput(_("That is already your email address."), field=field)
    return address


def _is_taken(account: Account, address: Address) -> bool:
    taken = db.session.scalar(
        select(Account.id).where(func.lower(Account.email) == address.key, Account.id != account.id)
    )
    return taken is not None
