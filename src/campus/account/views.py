"""Member views: the same change-email rules as the CMS, under /account."""

from __future__ import annotations

from flask import render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campus import email_change
from campus.access.forms import AddressForm
from campus.account import bp
from campus.auth import account_required, current_account, recent_login_required
from campus.deliveries import delivery_status
from campus.email_change import code_sent
from campus.forms import ApiForm, code_field, email_field
from campus.limits import code_checking, code_sending
from campus.responses import json_only, ok


class ChangeEmailForm(ApiForm):
    email = email_field()
    code = code_field()


@bp.get("")
@account_required
def index() -> str:
    return render_template("account/index.html", account=current_account())


@bp.get("/email")
@account_required
def email_page() -> str:
    return render_template("account/email.html", account=current_account())


@bp.post("/email/code")
@code_sending
@account_required
@recent_login_required
def email_code() -> Response:
    form = AddressForm().validated()
    return code_sent(email_change.request_change(current_account(), form.email.data))


@bp.get("/email/code/<delivery>")
@json_only
@account_required
def email_code_status(delivery: str) -> Response:
    return ok(_("OK"), status=delivery_status(delivery, current_account()))


@bp.post("/email")
@code_checking
@account_required
@recent_login_required
def email_post() -> Response:
    form = ChangeEmailForm().validated()
    address = email_change.confirm_change(
        current_account(), form.email.data, form.code.data, code_field="code"
    )
    return ok(
        _("Your email address was changed."), email=address.value, next=url_for("account.index")
    )
