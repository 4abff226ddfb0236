"""Changing the email, as the CMS (``/cms``, the seed's field names) and members (``/account``)
both offer it: one page, one code request and one confirmation, under each area's names."""

from __future__ import annotations

from dataclasses import dataclass

from flask import render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from campus.blueprints.answers import code_sent, delivery_status, refusals
from campus.flows import email_change
from campus.web.auth import current_account, renew_session
from campus.web.clients import client_tag
from campus.web.forms import AddressForm, ApiForm
from campus.web.responses import ok


@dataclass(frozen=True)
class Area:
    """Where the flow lives: its blueprint's name, its endpoints and its code field's name."""

    area: str
    send: str
    confirm: str
    home: str
    code_field: str


def page(area: Area) -> str:
    return render_template("change_email.html", account=current_account(), endpoints=area)


def send_code(area: Area, form: AddressForm) -> Response:
    with refusals(code=area.code_field):
        sent = email_change.request_change(current_account(), form.email.data, client=client_tag())
    return code_sent(sent)


def status(delivery: str) -> Response:
    return ok(_("OK"), status=delivery_status(delivery, current_account()))


def confirm(area: Area, form: ApiForm) -> Response:
    account = current_account()
    with refusals(code=area.code_field):
        email_change.confirm_change(
            account, form.email.data, code=form[area.code_field].data, client=client_tag()
        )
    renew_session(account)  # the change ended every session; this browser keeps a fresh one
    return ok(_("Your email address was changed."), email=account.email, next=url_for(area.home))
