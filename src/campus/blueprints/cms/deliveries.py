"""Reading the delivery log's query string, and writing one entry for the JSON answer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

from campus.mail.statuses import Entry, Status
from campus.web.errors import BadInput

# Far past any log a retention of days could fill; it bounds the scan.
LAST_PAGE = 1000


_PAGE = re.compile(r"[0-9]{1,6}")


def delivery_filter(args: Mapping[str, str]) -> tuple[Status | None, int]:
    """The status to show (None: all) and the page, from ``?status=&page=``."""
    raw_status = args.get("status") or None
    try:
        status = Status(raw_status) if raw_status else None
    except ValueError:
        raise BadInput(_("Unknown delivery status."), field="status") from None
    raw_page = args.get("page") or "1"
    # ASCII digits only: str.isdigit() also takes "²" and "١", which int() refuses or reads.
    if not _PAGE.fullmatch(raw_page) or not 1 <= int(raw_page) <= LAST_PAGE:
        raise BadInput(_("The page must be a number from 1 to %(last)d.", last=LAST_PAGE))
    return status, int(raw_page)


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "status": entry.status.value,
        "kind": entry.kind,
        "recipient": entry.recipient,
        "attempts": entry.attempts,
        "failure": entry.failure,
        "relay": entry.relay,
        "created": entry.created,
        "updated": entry.updated,
    }
