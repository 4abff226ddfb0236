"""Member views: the same change-email rules as the CMS, under /account."""

from __future__ import annotations

from flask import render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campus.blueprints import change_email
from campus.blueprints.account import bp
from campus.blueprints.account.forms import AddAddressForm, AddressForm, ChangeEmailForm
from campus.blueprints.answers import code_sent, refusals
from campus.flows import account_emails
from campus.web.auth import account_required, current_account, recent_login_required
from campus.web.clients import client_tag
from campus.web.rate_limits import code_checking, code_sending
from campus.web.responses import json_only, ok

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


@bp.get("/emails")
@account_required
def emails_page() -> str:
    account = current_account()
    return render_template(
        "account/emails.html", account=account, most=account_emails.MAX_ADDRESSES
    )


@bp.post("/emails/code")
@code_sending
@account_required
@recent_login_required
def emails_code() -> Response:
    form = AddressForm().validated()
    with refusals():
        sent = account_emails.request_add(current_account(), form.email.data, client=client_tag())
    return code_sent(sent)


@bp.get("/emails/code/<delivery>")
@json_only
@account_required
def emails_code_status(delivery: str) -> Response:
    return change_email.status(delivery)


@bp.post("/emails")
@code_checking
@account_required
@recent_login_required
def emails_add() -> Response:
    form = AddAddressForm().validated()
    with refusals():
        account_emails.confirm_add(
            current_account(), form.email.data, code=form.code.data, client=client_tag()
        )
    return ok(_("The address was added."), next=url_for("account.emails_page"))


@bp.post("/emails/primary")
@account_required
@recent_login_required
def emails_primary() -> Response:
    form = AddressForm().validated()
    with refusals():
        account_emails.make_primary(current_account(), form.email.data)
    return ok(_("That is now your primary address."), next=url_for("account.emails_page"))


@bp.post("/emails/remove")
@account_required
@recent_login_required
def emails_remove() -> Response:
    form = AddressForm().validated()
    with refusals():
        account_emails.remove(current_account(), form.email.data)
    return ok(_("The address was removed."), next=url_for("account.emails_page"))
