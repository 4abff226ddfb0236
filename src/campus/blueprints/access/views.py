"""Log in, sign up and reset: each view checks the shape, makes one call, answers."""

from __future__ import annotations

from flask import render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campus.blueprints.access import bp
from campus.blueprints.access.forms import AddressForm, CodeAndPasswordForm
from campus.blueprints.answers import code_sent_if_any, home_of, refusals
from campus.blueprints.askers import asker
from campus.blueprints.log_in import log_in, logged_out, login_page
from campus.flows import login_by_code, password_reset, signup
from campus.web.auth import sign_in
from campus.web.clients import client_tag
from campus.web.devices import remember_device
from campus.web.rate_limits import code_checking, code_checking_when_coded, code_sending
from campus.web.responses import ok


@bp.get("/login")
def login() -> str | Response:
    return login_page(heading=_("Log in"), post="access.login_post")


@bp.post("/login")
@code_checking_when_coded
def login_post() -> Response:
    return log_in(page="access.login")


@bp.post("/login/code")
@code_sending
def login_code() -> Response:
    login_by_code.request_code(AddressForm().validated().email.data, asker=asker())
    return code_sent_if_any()


@bp.post("/logout")
def logout() -> Response:
    return logged_out(login="access.login")


@bp.get("/signup")
def signup_page() -> str:
    return render_template("access/signup.html")


@bp.post("/signup/code")
@code_sending
def signup_code() -> Response:
    address = AddressForm().validated().email.data
    with refusals():
        signup.request_code(address, client=client_tag())
    return code_sent_if_any()


@bp.post("/signup")
@code_checking
def signup_post() -> Response:
    form = CodeAndPasswordForm().validated()
    with refusals():
        account = signup.complete(
            form.email.data, code=form.code.data, password=form.password.data, client=client_tag()
        )
    sign_in(account)
    return ok(_("Welcome! Your account was created."), next=home_of(account))


@bp.get("/password/reset")
def reset_page() -> str:
    return render_template("access/reset.html")


@bp.post("/password/reset/code")
@code_sending
def reset_code() -> Response:
    password_reset.request_code(AddressForm().validated().email.data, asker=asker())
    return code_sent_if_any()


@bp.post("/password/reset")
@code_checking
def reset_post() -> Response:
    form = CodeAndPasswordForm().validated()
    with refusals():
        account = password_reset.complete(
            form.email.data, code=form.code.data, password=form.password.data, asker=asker()
        )
    # The code proved the mailbox: this browser may log in past a stranger's guessing.
    remember_device(account)
    return ok(
        _("Your password was changed. Log in with the new one."), next=url_for("access.login")
    )
