"""Member views: the same change-email rules as the CMS, under /account."""

from __future__ import annotations

from flask import render_template
from werkzeug.wrappers import Response

from campus.blueprints import change_email
from campus.blueprints.account import bp
from campus.blueprints.account.forms import AddressForm, ChangeEmailForm
from campus.web.auth import account_required, current_account, recent_login_required
from campus.web.rate_limits import code_checking, code_sending
from campus.web.responses import json_only

AREA = change_email.Area(
    area="account",
    send="account.email_code",
    confirm="account.email_post",
    home="account.index",
    code_field="code",
)


@bp.get("")
@account_required
def index() -> str:
    return render_template("account/index.html", account=current_account())


@bp.get("/email")
@account_required
def email_page() -> str:
    return change_email.page(AREA)


@bp.post("/email/code")
@code_sending
@account_required
@recent_login_required
def email_code() -> Response:
    return change_email.send_code(AREA, AddressForm().validated())


@bp.get("/email/code/<delivery>")
@json_only
@account_required
def email_code_status(delivery: str) -> Response:
    return change_email.status(delivery)


@bp.post("/email")
@code_checking
@account_required
@recent_login_required
def email_post() -> Response:
    return change_email.confirm(AREA, ChangeEmailForm().validated())
