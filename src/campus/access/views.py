"""Log in, sign up and reset: each view checks the shape, makes one call, answers."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from campus import login_limits, password_reset, signup
from campus.access import bp
from campus.access.forms import AddressForm, CodeAndPasswordForm, LoginForm
from campus.auth import sign_in, sign_out
from campus.devices import remember_device
from campus.errors import BadInput
from campus.limits import code_checking, code_sending
from campus.models import Account
from campus.redirects import local_path
from campus.responses import ok


def home_of(account: Account) -> str:
    return url_for("cms.index") if account.is_staff else url_for("account.index")


def code_sent() -> Response:
    """The same answer whether or not an account has the address."""
    policy = current_app.extensions["campus.verifier"].policy
    return ok(
        _("If the address can receive it, a code is on its way. Check your inbox."),
        resend_after=policy.resend_cooldown,
        expires_in=policy.ttl,
    )


@bp.get("/login")
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(home_of(current_user))
    return render_template(
        "access/login.html",
        heading=_("Log in"),
        action=url_for("access.login_post", next=local_path(request.args.get("next"))),
    )


@bp.post("/login")
def login_post() -> Response:
    return log_in()


def log_in() -> Response:
    """Check the password, start a fresh session, say where to go next."""
    form = LoginForm().validated()
    account = login_limits.authenticate(form.email.data, form.password.data)
    if account is None:
        raise BadInput(_("Wrong email or password."), field="password")
    sign_in(account)
    return ok(_("Logged in."), next=local_path(request.args.get("next")) or home_of(account))


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    return ok(_("Logged out."), next=url_for("access.login"))


@bp.get("/signup")
def signup_page() -> str:
    return render_template("access/signup.html")


@bp.post("/signup/code")
@code_sending
def signup_code() -> Response:
    signup.request_code(AddressForm().validated().email.data)
    return code_sent()


@bp.post("/signup")
@code_checking
def signup_post() -> Response:
    form = CodeAndPasswordForm().validated()
    account = signup.complete(form.email.data, form.code.data, form.password.data)
    return ok(_("Welcome! Your account was created."), next=home_of(account))


@bp.get("/password/reset")
def reset_page() -> str:
    return render_template("access/reset.html")


@bp.post("/password/reset/code")
@code_sending
def reset_code() -> Response:
    password_reset.request_code(AddressForm().validated().email.data)
    return code_sent()


@bp.post("/password/reset")
@code_checking
def reset_post() -> Response:
    form = CodeAndPasswordForm().validated()
    account = password_reset.complete(form.email.data, form.code.data, form.password.data)
    # The code proved the mailbox: this browser may log in past a stranger's guessing.
    remember_device(account.id)
    return ok(
        _("Your password was changed. Log in with the new one."), next=url_for("access.login")
    )
