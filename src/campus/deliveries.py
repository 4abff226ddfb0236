"""Reading a delivery's status: its requester may, nobody else learns it exists."""

from __future__ import annotations

from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from campus.mail.outbox import delivery_log
from campus.models import Account


def delivery_status(delivery: str, account: Account) -> str:
    found = delivery_log().get(delivery) if len(delivery) <= 64 else None
    if found is None or found[1] != account.verification_account:
        raise NotFound(_("Not found."))
    return found[0].value
