"""Emailed verification codes: issue, verify once, forget.

This package knows nothing about Flask or email. It takes a policy, a store and a
secret key, and answers whether a typed code proves control of an address.
"""

from __future__ import annotations

from flask_emailcode.core.codes import generate_code, normalize_code
from flask_emailcode.core.errors import (
    CooldownActive,
    IssueRefused,
    StoreUnavailable,
    TooManyFailures,
)
from flask_emailcode.core.outcomes import Issued, Outcome, Verdict
from flask_emailcode.core.policy import Policy
from flask_emailcode.core.verifier import Verifier

__all__ = [
    "CooldownActive",
    "IssueRefused",
    "Issued",
    "Outcome",
    "Policy",
    "StoreUnavailable",
    "TooManyFailures",
    "Verdict",
    "Verifier",
    "generate_code",
    "normalize_code",
]
