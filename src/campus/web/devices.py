"""Browsers an account has logged in on, remembered by a signed cookie.

Password guessing is limited per account, and a limit per account is a lever
for anyone to lock its owner out. A browser that has logged in to the account
before (or proved the mailbox by a reset code) carries this cookie, and its
tries are counted on its own budget instead: strangers spending the account's
budget leave the owner's own browsers untouched (OWASP, "Slow Down Online
Guessing Attacks with Device Cookies").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Response, after_this_request, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "campus_device"
MAX_AGE = 365 * 86400


@dataclass(frozen=True)
class Device:
    """A browser that logged in to ``account_id``; ``nonce`` names it in limit keys."""

    account_id: int
    nonce: str


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="campus.device")


def known_device() -> Device | None:
    """The device cookie this request carries, if it is ours and unaltered."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, dict):
        return None
    account_id, nonce = value.get("a"), value.get("n")
    if not isinstance(account_id, int) or not isinstance(nonce, str) or not nonce:
        return None
    return Device(account_id, nonce)


def remember_device(account_id: int) -> None:
    """Mark this browser as one the account has logged in on (set with the response)."""
    device = known_device()
    nonce = device.nonce if device and device.account_id == account_id else secrets.token_hex(16)
    value = _serializer().dumps({"a": account_id, "n": nonce})

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            COOKIE,
            value,
            max_age=MAX_AGE,
            httponly=True,
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            samesite="Lax",
        )
        return response
