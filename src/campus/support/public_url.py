"""Links in mail come from PUBLIC_URL, never from the request's Host header.

A link built from Host would let anyone who can send a request choose where a
password-reset mail points.
"""

from __future__ import annotations

from flask import current_app


def public_url(path: str) -> str:
    return str(current_app.config["PUBLIC_URL"]).rstrip("/") + path
