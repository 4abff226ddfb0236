"""CMS views: each checks the request's shape, makes one call, and answers."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campus.blueprints import change_email
from campus.blueprints.cms import bp
from campus.blueprints.cms.deliveries import delivery_filter, entry_json
from campus.blueprints.cms.forms import EmailCaptchaForm, ResetEmailForm
from campus.blueprints.log_in import log_in, logged_out, login_page
from campus.mail.outbox import delivery_log
from campus.mail.statuses import Status
from campus.support.locale import site_time
from campus.web.auth import admin_required, current_account, recent_login_required, staff_required
from campus.web.rate_limits import code_checking, code_checking_when_coded, code_sending
from campus.web.responses import json_only, ok, wants_json

AREA = change_email.Area(
    area="cms",
    send="cms.email_captcha",
    confirm="cms.resetemail_post",
    home="cms.index",
    code_field="captcha",
)


@bp.get("/login")
def login() -> str | Response:
    return login_page(heading=_("Log in to the CMS"), post="cms.login_post", home="cms.index")


@bp.post("/login")
@code_checking_when_coded
def login_post() -> Response:
    return log_in(page="cms.login")


@bp.post("/logout")
def logout() -> Response:
    return logged_out(login="cms.login")


@bp.get("/")
@staff_required
def index() -> str:
    return render_template("cms/index.html", account=current_account())


@bp.get("/resetemail")
@staff_required
def resetemail() -> str:
    return change_email.page(AREA)


@bp.post("/email_captcha")
@code_sending
@staff_required
@recent_login_required
def email_captcha() -> Response:
    return change_email.send_code(AREA, EmailCaptchaForm().validated())


@bp.get("/email_captcha/<delivery>")
@json_only
@staff_required
def email_captcha_status(delivery: str) -> Response:
    return change_email.status(delivery)


@bp.post("/resetemail")
@code_checking
@staff_required
@recent_login_required
def resetemail_post() -> Response:
    return change_email.confirm(AREA, ResetEmailForm().validated())


# Deliveries shown on one page of the log.
DELIVERIES_PAGE = 50


@bp.get("/deliveries")
@admin_required
def deliveries() -> str | Response:
    """Recent deliveries for administrators, newest first, by status and page."""
    status, page = delivery_filter(request.args)
    log = delivery_log()
    found = log.recent(status, (page - 1) * DELIVERIES_PAGE, DELIVERIES_PAGE + 1)
    shown, more = found[:DELIVERIES_PAGE], len(found) > DELIVERIES_PAGE
    kept_days = log.retention // 86400
    if wants_json():
        rows = [entry_json(entry) for entry in shown]
        return ok(
            _("Recent deliveries"), deliveries=rows, page=page, more=more, kept_days=kept_days
        )
    return render_template(
        "cms/deliveries.html",
        entries=shown,
        status=status,
        statuses=list(Status),
        page=page,
        more=more,
        kept_days=kept_days,
        when=lambda seconds: site_time(datetime.fromtimestamp(seconds, UTC)),
    )
