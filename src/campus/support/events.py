"""Security events as one JSON line each: what happened, to which account, where.

A line carries the account id and a masked address, never a code or a digest,
so the log can be shipped and searched without becoming a second secret store.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from flask import Flask, has_request_context, request

from campus.support.addresses import mask

log = logging.getLogger("campus.events")


def init_app(app: Flask) -> None:
    log.setLevel(logging.INFO)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)


def event(name: str, *, account: str | None, address: str | None = None, **fields: Any) -> None:
    """Log one event. ``address`` is masked here; pass the real one."""
    record: dict[str, Any] = {"event": name, "account": account}
    if address is not None:
        record["address"] = mask(address)
    if has_request_context():
        record["ip"] = request.remote_addr
    record.update(fields)
    log.info(json.dumps(record, ensure_ascii=False, sort_keys=True))
