"""CMS views: each checks the request's shape, makes one call, and answers."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from campus import email_change
from campus.access.views import log_in
from campus.auth import (
    current_account,
    recent_login_required,
    sign_out,
    staff_required,
)
from campus.cms import bp
from campus.cms.forms import EmailCaptchaForm, ResetEmailForm
from campus.deliveries import delivery_status
from campus.email_change import code_sent
from campus.limits import code_checking, code_sending
from campus.redirects import local_path
from campus.responses import json_only, ok


@bp.get("/login")
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(url_for("cms.index"))
    return render_template(
        "access/login.html",
        heading=_("Log in to the CMS"),
        action=url_for("cms.login_post", next=local_path(request.args.get("next"))),
    )


@bp.post("/login")
def login_post() -> Response:
    return log_in()


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
    return code_sent(email_change.request_change(current_account(), form.email.data))


@bp.get("/email_captcha/<delivery>")
@json_only
@staff_required
def email_captcha_status(delivery: str) -> Response:
    return ok(_("OK"), status=delivery_status(delivery, current_account()))


@bp.post("/resetemail")
@code_checking
@staff_required
@recent_login_required
def resetemail_post() -> Response:
    form = ResetEmailForm().validated()
    address = email_change.confirm_change(
        current_account(), form.email.data, form.captcha.data, code_field="captcha"
    )
    return ok(_("Your email address was changed."), email=address.value, next=url_for("cms.index"))
