"""The log-in answers both log-in pages share: by password, by a mailed code, or both for
staff under ``STAFF_LOGIN_CONFIRM_BY_CODE``; the pages themselves, and log-out."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from campus.blueprints.answers import home_of, refusals
from campus.blueprints.askers import asker
from campus.extensions import db
from campus.flows import login_by_code
from campus.models import Account
from campus.support import clock
from campus.support.addresses import BadAddress, parse_address
from campus.web.auth import sign_in, sign_out
from campus.web.errors import BadInput
from campus.web.forms import LoginForm
from campus.web.login_limits import authenticate
from campus.web.redirects import local_path
from campus.web.responses import ok


def login_page(*, heading: str, post: str, home: str | None = None) -> str | Response:
    """The log-in page, by password or (``?by=code``) by a mailed code; someone logged in
    goes to ``home`` (an endpoint), or their own home."""
    if current_user.is_authenticated:
        return redirect(url_for(home) if home else home_of(current_user))
    go_to = local_path(request.args.get("next"))
    action = url_for(post, next=go_to)
    if request.args.get("by") == "code":
        page = request.endpoint or "access.login"
        return render_template(
            "access/login_code.html",
            heading=heading,
            action=action,
            by_password=url_for(page, next=go_to),
            pending=pending_address(),
        )
    by_code = url_for(request.endpoint or "access.login", by="code", next=go_to)
    return render_template("access/login.html", heading=heading, action=action, by_code=by_code)


def logged_out(*, login: str) -> Response:
    """End this session, here and on the server, and say which log-in page to show."""
    sign_out()
    return ok(_("Logged out."), next=url_for(login))


def log_in(*, page: str) -> Response:
    """Both log-in pages post here: a password, or a mailed code instead of one.

    With ``STAFF_LOGIN_CONFIRM_BY_CODE``, a staff member's right password only
    mails a code; the CMS opens once that code comes back from this browser.
    """
    form = LoginForm().validated()
    go_to = local_path(request.args.get("next"))
    if not form.password.data:
        account = _log_in_by_code(form.email.data, form.code.data)
    else:
        checked = authenticate(form.email.data, form.password.data)
        if checked is None:
            raise BadInput(_("Wrong email or password."), field="password")
        account = checked
        if account.is_staff and current_app.config["STAFF_LOGIN_CONFIRM_BY_CODE"]:
            sent = login_by_code.send_confirmation(account, asker=asker())
            session[PENDING] = {"account": account.id, "until": int(clock.now()) + sent.expires_in}
            return ok(
                _("We emailed you a code. Enter it to finish logging in."),
                confirm_by_code=True,
                resend_after=sent.resend_after,
                expires_in=sent.expires_in,
                next=url_for(page, by="code", next=go_to),
            )
    sign_in(account)
    return ok(_("Logged in."), next=go_to or home_of(account))


# The session key of a password log-in waiting for its mailed code.
PENDING = "campus_login_pending"


def pending_address() -> str | None:
    """The address a password log-in of this browser waits for a code at, if any."""
    account = _waiting_account()
    return account.email if account is not None else None


def _log_in_by_code(typed: str, code: str) -> Account:
    try:
        address = parse_address(typed)
    except BadAddress as exc:
        raise BadInput(_("Please enter a valid email address."), field="email") from exc
    waiting = _waiting_account()
    if waiting is not None and waiting.has_address(address.key):
        # The code a right password was sent: its own slot, bound to the account.
        with refusals():
            account = login_by_code.confirm(waiting, code=code, asker=asker())
        session.pop(PENDING, None)
        return account
    with refusals():
        account = login_by_code.complete(address, code=code, asker=asker())
    if account.is_staff and current_app.config["STAFF_LOGIN_CONFIRM_BY_CODE"]:
        # The code proved the mailbox; staff must prove the password too.
        raise BadInput(_("Staff log in with their password first."), field="code")
    return account


def _waiting_account() -> Account | None:
    """The account whose password this browser proved and whose mailed code it awaits."""
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) <= clock.now():
        return None
    found: Account | None = db.session.get(Account, pending.get("account"))
    return found
