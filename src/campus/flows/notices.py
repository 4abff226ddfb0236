"""Security notices: mail that tells a person what happened to their account.

A notice carries no code. Its delivery status is kept for ``NOTICE_TTL``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from campus.mail.messages import MailRequest
from campus.mail.outbox import MailUnavailable, outbox
from campus.models import Account
from campus.support.locale import current_locale, site_time

log = logging.getLogger(__name__)

# How long a notice's delivery status is kept: notices carry no code to expire with.
NOTICE_TTL = 86400


def send_notice(
    kind: str, *, to: str, owner: str, context: dict[str, Any], ttl: int = NOTICE_TTL
) -> str:
    """Send (or queue) one notice in the reader's language; return its delivery id."""
    request = MailRequest(kind=kind, to=to, locale=current_locale(), context=context)
    return outbox().send(request, owner=owner, ttl=ttl)


def send_notice_after_the_fact(kind: str, *, to: str, owner: str, context: dict[str, Any]) -> None:
    """A notice of something already done: if it cannot go, the deed stands and the log says why."""
    try:
        send_notice(kind, to=to, owner=owner, context=context)
    except MailUnavailable:
        log.exception("notice %s not sent", kind)


def tell_every_address(
    account: Account, kind: str, context: dict[str, Any], *, also: str | None = None
) -> None:
    """A security notice to every verified address of the account (and ``also`` one that
    just left it): a hijacker who took one mailbox cannot keep the owner from hearing."""
    for address in [*account.verified_addresses, *([also] if also else [])]:
        send_notice_after_the_fact(
            kind, to=address, owner=account.verification_account, context=context
        )


def when(moment: datetime) -> str:
    """A moment as notices show it: the site's time zone, the reader's way of writing it."""
    return site_time(moment)
