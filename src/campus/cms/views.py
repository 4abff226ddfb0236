"""CMS views: each checks the request's shape, makes one call, and answers."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from campus import accounts, email_change
from campus.auth import (
    current_account,
    recent_login_required,
    sign_in,
    sign_out,
    staff_required,
)
from campus.cms import bp
from campus.cms.forms import EmailCaptchaForm, LoginForm, ResetEmailForm
from campus.deliveries import delivery_status
from campus.errors import BadInput
from campus.limits import code_sending
from campus.responses import json_only, ok


@bp.get("/login")
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("cms.index"))
    return render_template("cms/login.html", next=_local_path(request.args.get("next")))


@bp.post("/login")
def login_post() -> Response:
    form = LoginForm().validated()
    account = accounts.authenticate(form.email.data, form.password.data)
    if account is None:
        raise BadInput(_("Wrong email or password."), field="password")
    sign_in(account)
    target = _local_path(request.args.get("next")) or url_for("cms.index")
    return ok(_("Logged in."), next=target)


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    return ok(_("Logged out."), next=url_for("cms.login"))


@bp.get("/")
@staff_required
def index() -> str:
    return render_template("cms/index.html", account=current_account())


@bp.get("/resetemail")
@staff_required
def resetemail() -> str:
    return render_template("cms/resetemail.html", account=current_account())


@bp.post("/email_captcha")
@code_sending
@staff_required
@recent_login_required
def email_captcha() -> Response:
    form = EmailCaptchaForm().validated()
    sent = email_change.request_change(current_account(), form.email.data)
    return ok(
        _("The code was sent. Please check your inbox."),
        resend_after=sent.resend_after,
        expires_in=sent.expires_in,
        delivery=sent.delivery,
    )


@bp.get("/email_captcha/<delivery>")
@json_only
@staff_required
def email_captcha_status(delivery: str) -> Response:
    return ok(_("OK"), status=delivery_status(delivery, current_account()))


@bp.post("/resetemail")
@staff_required
@recent_login_required
def resetemail_post() -> Response:
    form = ResetEmailForm().validated()
    address = email_change.confirm_change(
        current_account(), form.email.data, form.captcha.data, code_field="captcha"
    )
    return ok(_("Your email address was changed."), email=address.value, next=url_for("cms.index"))


def _local_path(target: str | None) -> str | None:
    """Only same-site paths: an open redirect would turn login into a phishing aid."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None
