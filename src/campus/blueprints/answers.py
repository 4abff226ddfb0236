"""What the blueprints answer alike: codes sent, delivery statuses, and flow refusals by field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from campus.emailcode import CodeRefused, Outcome, Sent, Verdict, policy
from campus.flows.account_emails import MAX_ADDRESSES, NotYours, PrimaryStays, TooManyAddresses
from campus.flows.errors import AccountExists, DomainRefused, SameAddress, WeakPassword
from campus.mail.outbox import delivery_log
from campus.mail.statuses import status_for
from campus.models import Account
from campus.web.errors import BadInput
from campus.web.responses import ok


@contextmanager
def refusals(
    *,
    code: str = "code",
    email: str = "email",
    password: str = "password",  # noqa: S107  (a field's name, not a password)
) -> Iterator[None]:
    """Answer a flow's refusal as bad input beside the field the page calls ``code`` etc."""
    try:
        yield
    except CodeRefused as refused:
        verdict = refused.verdict
        raise BadInput(
            refusal_message(verdict), field=code, attempts_left=verdict.attempts_left
        ) from refused
    except WeakPassword as weak:
        if weak.is_address:
            message = _("The password may not be the email address.")
        else:
            message = _("The password needs at least %(count)d characters.", count=weak.min_length)
        raise BadInput(str(message), field=password) from weak
    except SameAddress as same:
        raise BadInput(_("That is already your email address."), field=email) from same
    except TooManyAddresses as full:
        message = _("An account keeps at most %(count)d addresses.", count=MAX_ADDRESSES)
        raise BadInput(str(message), field=email) from full
    except NotYours as not_yours:
        raise BadInput(_("That is not one of your addresses."), field=email) from not_yours
    except PrimaryStays as primary:
        message = _("The primary address cannot be removed. Make another one primary first.")
        raise BadInput(str(message), field=email) from primary
    except DomainRefused as refused:
        raise BadInput(domain_message(refused), field=email) from refused
    except AccountExists as exists:
        message = _("An account with this address already exists. Log in or reset the password.")
        raise BadInput(str(message), field=email) from exists


def domain_message(refused: DomainRefused) -> str:
    """What the address may be instead, never whether an account has it."""
    if refused.rule.disposable:
        return str(_("Throwaway mailboxes cannot be used here. Please use an address you keep."))
    return str(
        _("Please use your campus address: %(domains)s.", domains=", ".join(refused.rule.allowed))
    )


def refusal_message(verdict: Verdict) -> str:
    if verdict.outcome is Outcome.WRONG:
        return str(_("Wrong code. %(count)d tries left.", count=verdict.attempts_left))
    if verdict.outcome is Outcome.EXPIRED:
        return str(_("The code has expired. Please ask for a new one."))
    return str(_("The code is no longer valid. Please ask for a new one."))


def code_sent(sent: Sent) -> Response:
    """The answer to a code request on behalf of a logged-in account."""
    return ok(
        _("The code was sent. Please check your inbox."),
        resend_after=sent.resend_after,
        expires_in=sent.expires_in,
        delivery=sent.delivery,
        earlier_codes=sent.earlier,
    )


def code_sent_if_any() -> Response:
    """The same answer whether or not an account has the address (sign-up, reset)."""
    rules = policy()
    return ok(
        _("If the address can receive it, a code is on its way. Check your inbox."),
        resend_after=rules.resend_cooldown,
        expires_in=rules.ttl,
    )


def delivery_status(delivery: str, account: Account) -> str:
    """The status of a delivery this account asked for; 404 for any other id, known or not."""
    status = status_for(delivery_log(), delivery, owner=account.verification_account)
    if status is None:
        raise NotFound(_("Not found."))
    return status.value


def home_of(account: Account) -> str:
    return url_for("cms.index") if account.is_staff else url_for("account.index")
