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
from itsdangerous import BadSignature, URLSafeTimedSerializer

from campus.models import Account
from campus.support.keyed import keyed

COOKIE = "campus_device"
# Counted from the last log-in on the browser, which signs the cookie anew. The
# server checks the age itself: the browser's expiry binds only honest browsers.
MAX_AGE = 365 * 86400


@dataclass(frozen=True)
class Device:
    """A browser that logged in to ``account_id``; ``nonce`` names it in limit keys.

    ``password`` is a keyed digest of the password it logged in with: a new
    password, which ends every session, ends every remembered browser too.
    """

    account_id: int
    nonce: str
    password: str

    def is_for(self, account: Account) -> bool:
        return self.account_id == account.id and secrets.compare_digest(
            self.password, _password_tag(account)
        )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="campus.device")


def _password_tag(account: Account) -> str:
    return keyed("device|password", account.password_hash, length=16)


def known_device() -> Device | None:
    """The device cookie this request carries, if it is ours, unaltered and not too old."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        value = _serializer().loads(raw, max_age=MAX_AGE)
    except BadSignature:  # a bad signature, or a good one older than MAX_AGE
        return None
    if not isinstance(value, dict):
        return None
    account_id, nonce, password = value.get("a"), value.get("n"), value.get("p")
    if not isinstance(account_id, int) or not isinstance(nonce, str) or not nonce:
        return None
    if not isinstance(password, str) or not password:
        return None
    return Device(account_id, nonce, password)


def remember_device(account: Account) -> None:
    """Mark this browser as one the account has logged in on (set with the response)."""
    device = known_device()
    same = device is not None and device.is_for(account)
    nonce = device.nonce if device is not None and same else secrets.token_hex(16)
    value = _serializer().dumps({"a": account.id, "n": nonce, "p": _password_tag(account)})

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
