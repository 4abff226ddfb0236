"""Keyed names: what goes into a store or a limit key instead of an address or an IP.

``HMAC-SHA256(SECRET_KEY, "<label>|<value>")``, cut short: the same value always
gives the same name, a dump of Redis or the database names no one, and the
label keeps names made for one purpose from matching those made for another.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app


def keyed(label: str, value: str, *, length: int = 32) -> str:
    """The keyed name of ``value`` for ``label``, as ``length`` hex characters."""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    message = f"{label}|{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:length]
