"""Blinker signals, sent with the app as sender. None carries a code or a digest.

Addresses are passed as the ``Address`` the extension validated; a subscriber
that logs them masks them (``flask_emailcode.addresses.mask``).

- ``code_issued(app, purpose, account, address, delivery, earlier)``
- ``code_verified(app, purpose, account, address)``
- ``code_refused(app, purpose, account, address, outcome, attempts_left)``
- ``code_limited(app, purpose, account, address, scope, retry_after)``
- ``code_withdrawn(app, purpose, account, address, delivery)``
- ``delivery_failed(app, delivery, permanent, reason)``
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

code_issued = _signals.signal("code-issued")
code_verified = _signals.signal("code-verified")
code_refused = _signals.signal("code-refused")
code_limited = _signals.signal("code-limited")
code_withdrawn = _signals.signal("code-withdrawn")
delivery_failed = _signals.signal("delivery-failed")

__all__ = [
    "code_issued",
    "code_limited",
    "code_refused",
    "code_verified",
    "code_withdrawn",
    "delivery_failed",
]
