"""Sealing mail requests for the queue: nothing at rest in Redis reads as a code.

A queued request carries the code it must mail. It travels and waits as a
Fernet token (AES-128-CBC with HMAC-SHA256) under a key derived from
SECRET_KEY, so a Redis dump, a broker log or a dead-letter copy holds only
ciphertext that expires with the code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import asdict

from cryptography.fernet import Fernet, InvalidToken

from campus.mail.messages import IssuedCode, MailRequest

_LABEL = b"campus.mail-queue.v1"


class SealError(ValueError):
    """A token was tampered with, expired, or sealed under another key."""


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    # Derived once per key, not per message (the worker unseals hundreds a second).
    # A derived key: the queue's key is useless for sessions or code digests.
    derived = hmac.new(secret_key.encode("utf-8"), _LABEL, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(request: MailRequest, *, secret_key: str) -> str:
    payload = json.dumps(asdict(request), separators=(",", ":")).encode("utf-8")
    return _fernet(secret_key).encrypt(payload).decode("ascii")


def unseal(token: str, *, secret_key: str, max_age: int | None = None) -> MailRequest:
    try:
        payload = _fernet(secret_key).decrypt(token.encode("ascii"), ttl=max_age)
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise SealError("the queued message cannot be opened") from exc
    fields = json.loads(payload)
    if fields.get("issued") is not None:
        fields["issued"] = IssuedCode(**fields["issued"])
    return MailRequest(**fields)
