"""What each purpose's codes look like and live by: the app's defaults, then its overrides.

A purpose is any name of lower-case letters, digits and ``_``; one that is
neither registered nor in ``EMAILCODE_PURPOSES`` takes the ``EMAILCODE_*``
defaults. A code for one purpose is worthless for any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_emailcode.core import Policy
from flask_emailcode.settings import code_in_subject

_POLICY_FIELDS = ("ttl", "length", "max_attempts", "resend_cooldown", "live_codes")


@dataclass(frozen=True)
class Purpose:
    """One purpose's rules: its engine policy, and how its mail is written."""

    name: str
    policy: Policy
    code_in_subject: bool
    # A fixed subject of the app's (else the extension's, translated) and a template
    # name under ``emailcode/mail/`` (else the purpose's name, else ``code``).
    subject: str | None = None
    template: str | None = None


def defaults(config: Mapping[str, Any]) -> Policy:
    return Policy(
        ttl=int(config["EMAILCODE_TTL"]),
        length=int(config["EMAILCODE_LENGTH"]),
        max_attempts=int(config["EMAILCODE_MAX_ATTEMPTS"]),
        resend_cooldown=int(config["EMAILCODE_RESEND_COOLDOWN"]),
        live_codes=int(config["EMAILCODE_LIVE_CODES"]),
        failure_cap=int(config["EMAILCODE_FAILURE_CAP"]),
        failure_ceiling=int(config["EMAILCODE_FAILURE_CEILING"]),
        failure_window=int(config["EMAILCODE_FAILURE_WINDOW"]),
    )


def build(name: str, config: Mapping[str, Any], overrides: Mapping[str, Any]) -> Purpose:
    """A purpose from the defaults and its overrides (``EMAILCODE_PURPOSES`` and
    ``EmailCode.purpose``, the latter winning)."""
    base = defaults(config)
    changed = {key: int(overrides[key]) for key in _POLICY_FIELDS if key in overrides}
    try:
        policy = Policy(**{**base.__dict__, **changed})
    except ValueError as exc:
        raise ValueError(f"purpose {name!r}: {exc}") from exc
    in_subject = overrides.get("code_in_subject")
    return Purpose(
        name=name,
        policy=policy,
        code_in_subject=code_in_subject(config, name) if in_subject is None else bool(in_subject),
        subject=overrides.get("subject"),
        template=overrides.get("template"),
    )
