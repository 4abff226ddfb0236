"""Flask-EmailCode: emailed verification codes for Flask.

Codes come from ``secrets``; only a keyed digest of each is stored; checking a
code and spending it is one atomic step; resends keep the earlier codes alive
under one attempt count; every refusal is an exception with a status.

The engine (``flask_emailcode.core``) imports no Flask; the names below load the
Flask side on first use, so importing the engine alone never does.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "EmailCode": "flask_emailcode.extension",
    "Holder": "flask_emailcode.extension",
    "Sent": "flask_emailcode.results",
    "Proof": "flask_emailcode.results",
    "CodeMail": "flask_emailcode.mail",
    "Budget": "flask_emailcode.budgets",
    "Address": "flask_emailcode.addresses",
    "Outcome": "flask_emailcode.core",
    "normalize_code": "flask_emailcode.core",
    "Verdict": "flask_emailcode.core",
    "EmailCodeError": "flask_emailcode.errors",
    "TooSoon": "flask_emailcode.errors",
    "Locked": "flask_emailcode.errors",
    "CodeRefused": "flask_emailcode.errors",
    "AddressRefused": "flask_emailcode.errors",
    "Unavailable": "flask_emailcode.errors",
    "StoreUnavailable": "flask_emailcode.errors",
    "MailUnavailable": "flask_emailcode.errors",
}

if TYPE_CHECKING:
    from flask_emailcode.addresses import Address
    from flask_emailcode.budgets import Budget
    from flask_emailcode.core import Outcome, Verdict, normalize_code
    from flask_emailcode.errors import (
        AddressRefused,
        CodeRefused,
        EmailCodeError,
        Locked,
        MailUnavailable,
        StoreUnavailable,
        TooSoon,
        Unavailable,
    )
    from flask_emailcode.extension import EmailCode, Holder
    from flask_emailcode.mail import CodeMail
    from flask_emailcode.results import Proof, Sent

__all__ = [
    "Address",
    "AddressRefused",
    "Budget",
    "CodeMail",
    "CodeRefused",
    "EmailCode",
    "EmailCodeError",
    "Holder",
    "Locked",
    "MailUnavailable",
    "Outcome",
    "Proof",
    "Sent",
    "StoreUnavailable",
    "TooSoon",
    "Unavailable",
    "Verdict",
    "normalize_code",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'flask_emailcode' has no attribute {name!r}")
