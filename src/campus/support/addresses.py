"""Email addresses: validated once at the edge, then trusted everywhere inside.

They are Flask-EmailCode's (``flask_emailcode.addresses``): the extension counts
budgets and cooldowns by the same ``Address.mailbox`` the app compares accounts by.
"""

from __future__ import annotations

from flask_emailcode.addresses import (
    DOTS_IGNORED,
    MAX_LENGTH,
    Address,
    BadAddress,
    mask,
    parse_address,
)

__all__ = ["DOTS_IGNORED", "MAX_LENGTH", "Address", "BadAddress", "mask", "parse_address"]
