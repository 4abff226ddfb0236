"""Making, normalising and digesting codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask_emailcode.core.policy import Policy

_IGNORED = str.maketrans("", "", " \t\r\n-_\u00a0\u3000")


def generate_code(policy: Policy) -> str:
    """A fresh code drawn from the operating system's CSPRNG."""
    return "".join(secrets.choice(policy.alphabet) for _ in range(policy.length))


def normalize_code(text: str) -> str:
    """Fold what people type: case, spaces and dashes do not matter."""
    return text.translate(_IGNORED).upper()


def code_digest(*, key: bytes, purpose: str, account: str, address: str, code: str) -> str:
    """HMAC-SHA256 of ``purpose|account|address|code``: the only trace of a code kept.

    Purpose, account and code never contain ``|`` (the verifier checks), so the
    joined message names exactly one tuple even though an address may hold one.
    """
    message = "|".join((purpose, account, address, normalize_code(code)))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def slot_id(*, key: bytes, purpose: str, account: str, address: str) -> str:
    """A stable, keyed name for one (purpose, account, address), safe to store."""
    # A derived key keeps slot names and code digests in separate domains.
    slot_key = hmac.new(key, b"verification.slot", hashlib.sha256).digest()
    message = "|".join((purpose, account, address))
    return hmac.new(slot_key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def account_tag(*, key: bytes, account: str) -> str:
    """A short keyed name for an account, used to group its slots."""
    tag_key = hmac.new(key, b"verification.account", hashlib.sha256).digest()
    return hmac.new(tag_key, account.encode("utf-8"), hashlib.sha256).hexdigest()[:24]
