"""What the blueprints answer alike: codes sent, log-ins, and the flows' refusals by field."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from campus.emailcode import CodeRefused, Outcome, Sent, Verdict, verifier
from campus.flows.errors import AccountExists, DomainRefused, SameAddress, WeakPassword
from campus.mail.outbox import delivery_log
from campus.mail.statuses import status_for
from campus.models import Account
from campus.web.auth import sign_in, sign_out
from campus.web.errors import BadInput
from campus.web.forms import LoginForm
from campus.web.login_limits import authenticate
from campus.web.redirects import local_path
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
    policy = verifier().policy
    return ok(
        _("If the address can receive it, a code is on its way. Check your inbox."),
        resend_after=policy.resend_cooldown,
        expires_in=policy.ttl,
    )


def delivery_status(delivery: str, account: Account) -> str:
    """The status of a delivery this account asked for; 404 for any other id, known or not."""
    status = status_for(delivery_log(), delivery, owner=account.verification_account)
    if status is None:
        raise NotFound(_("Not found."))
    return status.value


def home_of(account: Account) -> str:
    return url_for("cms.index") if account.is_staff else url_for("account.index")


def login_page(*, heading: str, post: str, home: str | None = None) -> str | Response:
    """The log-in page; someone logged in goes to ``home`` (an endpoint), or their own home."""
    if current_user.is_authenticated:
        return redirect(url_for(home) if home else home_of(current_user))
    action = url_for(post, next=local_path(request.args.get("next")))
    return render_template("access/login.html", heading=heading, action=action)


def logged_out(*, login: str) -> Response:
    """End this session, here and on the server, and say which log-in page to show."""
    sign_out()
    return ok(_("Logged out."), next=url_for(login))


def log_in() -> Response:
    """Check the password, start a fresh session, say where to go next (both log-in pages)."""
    form = LoginForm().validated()
    account = authenticate(form.email.data, form.password.data)
    if account is None:
        raise BadInput(_("Wrong email or password."), field="password")
    sign_in(account)
    return ok(_("Logged in."), next=local_path(request.args.get("next")) or home_of(account))
