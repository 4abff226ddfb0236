"""What the extension raises on purpose: one base class, and an HTTP status for each.

The default error handlers (``EMAILCODE_REGISTER_ERRORHANDLERS``) answer with
``status``; an app that answers otherwise turns them off or registers its own
handler for ``EmailCodeError`` or any subclass.
"""

from __future__ import annotations

from flask_emailcode.core import Outcome


class EmailCodeError(Exception):
    """Base class of every refusal the extension raises."""

    status = 400


class TooSoon(EmailCodeError):
    """A cooldown or a sending budget: nothing is sent for ``retry_after`` seconds.

    ``scope`` names which: ``cooldown``, ``per_address``, ``per_client``,
    ``per_account``, ``global``, ``checks``, or an app's own budget.
    """

    status = 429

    def __init__(self, retry_after: int, *, scope: str) -> None:
        super().__init__(f"{scope}: retry after {retry_after}s")
        self.retry_after = retry_after
        self.scope = scope


class Locked(TooSoon):
    """The failure cap: too many wrong codes for this account and purpose; nothing is
    checked or sent until they age out."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after, scope="failure_cap")


class CodeRefused(EmailCodeError):
    """The typed code does not prove the address: ``outcome`` is ``WRONG`` (with
    ``attempts_left``), ``EXPIRED`` or ``USED_UP``."""

    def __init__(self, outcome: Outcome, attempts_left: int = 0) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome
        self.attempts_left = attempts_left


class AddressRefused(EmailCodeError):
    """Not an address a code may be sent to; ``reason`` says why (``invalid`` or an
    app's own rule)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class Unavailable(EmailCodeError):
    """A backend is down: nothing was done, and no code stays valid that was not mailed."""

    status = 503


class StoreUnavailable(Unavailable):
    """The code store or the budgets' storage could not be reached."""


class MailUnavailable(Unavailable):
    """The mail could not be handed to the sender; the code it carried is withdrawn."""
