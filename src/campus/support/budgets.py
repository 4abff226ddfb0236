"""Budgets: how many of something one key may do in a window, in the one shared storage.

One mechanism, Flask-EmailCode's (``flask_emailcode.budgets``, on the ``limits``
library's moving window), for every limit the app has: the extension's sending
and checking budgets, the request limits before a view (``web.rate_limits``),
and the log-in and re-authentication budgets taken in code. Each app has its own
storage (Redis with ``REDIS_URL`` or Sentinel, else the app's database), never
one process's memory and never another app's, so every process and host sees the
same counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string

from campus.extensions import services
from campus.support import clock
from campus.support.addresses import Address
from campus.support.keyed import keyed
from flask_emailcode import TooSoon
from flask_emailcode.budgets import Budget as Counted
from flask_emailcode.budgets import Budgets


class Limited(Exception):
    """A budget is spent: answered 429 with ``retry_after`` seconds until it is not."""

    def __init__(self, retry_after: int, *, scope: str = "", limit: str = "") -> None:
        super().__init__(f"{scope or 'limit'}: retry after {retry_after}s")
        self.retry_after = retry_after
        self.scope = scope
        self.limit = limit


def enabled() -> bool:
    """Whether the request-rate limits are on (``RATELIMIT_ENABLED``); the log-in budgets
    count whatever it says."""
    return bool(current_app.config["RATELIMIT_ENABLED"])


def budget_storage() -> Storage:
    """This app's ``limits`` storage, built once from ``RATELIMIT_STORAGE_URI``."""
    own = services()
    if own.budget_storage is None:
        options = current_app.config.get("RATELIMIT_STORAGE_OPTIONS") or {}
        built = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"], **options)
        if not isinstance(built, Storage):  # an async URI: never one this app builds
            raise TypeError(f"not a synchronous limits storage: {type(built).__name__}")
        own.budget_storage = built
    return own.budget_storage


def _budgets() -> Budgets:
    own = services()
    if own.budgets is None:
        own.budgets = Budgets(
            budget_storage(),
            prefix=str(current_app.config["EMAILCODE_KEY_PREFIX"]),
            clock=clock.now,  # the app's one clock (CAMPUS_CLOCK in tests)
        )
    return own.budgets


class Budget:
    """One limit a setting names, for one key, as the app's events and answers call it.

    ``counted_as``: the scope the count is kept under, when another counter (the
    extension's own sending budgets) shares it.
    """

    def __init__(
        self, setting: str, scope: str, key: str, *, counted_as: str | None = None
    ) -> None:
        self.scope = scope
        self.item: RateLimitItem = parse(str(current_app.config[setting]))
        self.counted = Counted(counted_as or scope, str(current_app.config[setting]), key)

    def take(self) -> None:
        """Count one, or raise Limited when the budget is spent."""
        spend(take=[self])

    def check(self) -> None:
        """Raise Limited when the budget is spent; count nothing."""
        spend(take=[], check=[self])

    @property
    def key(self) -> str:
        """The key ``limits`` keeps this budget's window under (the extension's naming)."""
        return _budgets().key(self.counted)


def spend(*, take: Sequence[Budget], check: Sequence[Budget] = ()) -> None:
    """Count one against each budget in ``take`` unless one of ``take`` or ``check`` is
    spent; then raise Limited for the first spent one, having counted nothing.

    With Redis this is one atomic call, one round trip for all of a request's budgets.
    """
    try:
        _budgets().spend([b.counted for b in take], [b.counted for b in check])
    except TooSoon as refused:
        spent = next(b for b in [*take, *check] if b.counted.scope == refused.scope)
        raise Limited(refused.retry_after, scope=spent.scope, limit=str(spent.item)) from None


def sending_budgets(address: Address, *, mailbox: bool = True) -> list[Budget]:
    """The budgets a message to ``address`` spends: its mailbox's (unless ``mailbox`` is
    false), and the global one.

    The mailbox is keyed, so the limiter's keys name no one; ``A@X.com`` and
    ``a+tag@x.com`` share one budget. They are counted under the names Flask-EmailCode
    counts a code's under, in the same storage, so codes and notices share each budget.
    """
    if not enabled():
        return []
    budgets = []
    if mailbox:
        key = keyed("limit.per_address", address.mailbox)
        budgets.append(
            Budget("EMAILCODE_LIMIT_PER_ADDRESS", "code-per-address", key, counted_as="per_address")
        )
    if current_app.config.get("EMAILCODE_LIMIT_GLOBAL"):
        key = keyed("limit.global", "all")
        budgets.append(Budget("EMAILCODE_LIMIT_GLOBAL", "code-global", key, counted_as="global"))
    return budgets


def take_sending_budgets(address: Address, *, mailbox: bool = True) -> None:
    """Spend one message of each budget, or raise Limited and spend nothing."""
    spend(take=sending_budgets(address, mailbox=mailbox))
