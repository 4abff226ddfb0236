"""Who is asking, as the engine's per-client failure cap counts it."""

from __future__ import annotations

from flask import request

from campus.support.keyed import keyed


def client_tag() -> str:
    """A keyed digest of the client's network address (as ProxyFix reports it), naming no one."""
    return keyed("client", request.remote_addr or "", length=24)
