"""Budgets: how many of something one key may do in a window, in the one shared storage.

The Flask-Limiter instance lives here because two kinds of caller count in
its storage: request decorators (``web.rate_limits``), and code that takes a
budget at the moment something happens (a message going out, a password
tried). Its storage is Redis (``REDIS_URL`` or Sentinel), else the app's database,
never one process's memory, so every process and host sees the same counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from campus.support.addresses import Address
from campus.support.keyed import keyed

# The client address comes from the socket; ProxyFix rewrites it from
# X-Forwarded-For only when PROXY_FIX_X_FOR trusted hops are configured.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


class Limited(Exception):
    """A budget is spent: answered 429 with ``retry_after`` seconds until it is not."""

    def __init__(self, retry_after: int, *, scope: str = "", limit: str = "") -> None:
        super().__init__(f"{scope or 'limit'}: retry after {retry_after}s")
        self.retry_after = retry_after
        self.scope = scope
        self.limit = limit


def budget_storage() -> Storage:
    """Flask-Limiter's storage; or, when ``RATELIMIT_ENABLED=false`` left it unbuilt, one of
    our own on the same URI: the log-in budgets stay whatever that setting says."""
    if limiter.enabled:
        return limiter.storage
    if "campus.budget_storage" not in current_app.extensions:
        options = current_app.config.get("RATELIMIT_STORAGE_OPTIONS") or {}
        built = storage_from_string(current_app.config["RATELIMIT_STORAGE_URI"], **options)
        if not isinstance(built, Storage):  # an async URI: never one this app builds
            raise TypeError(f"not a synchronous limits storage: {type(built).__name__}")
        current_app.extensions["campus.budget_storage"] = built
    own: Storage = current_app.extensions["campus.budget_storage"]
    return own


class Budget:
    """One limit taken in code, atomically, in the storage Flask-Limiter uses."""

    def __init__(
        self, setting: str, scope: str, key: str, *, counted_as: str | None = None
    ) -> None:
        self.scope = scope
        self.item: RateLimitItem = parse(str(current_app.config[setting]))
        # ``counted_as``: the scope the count is kept under, when another counter shares it.
        self.identifiers = (
            str(current_app.config["RATELIMIT_KEY_PREFIX"]),
            counted_as or scope,
            key,
        )

    @cached_property
    def _strategy(self) -> MovingWindowRateLimiter:
        # Only the one-at-a-time path needs it; ``spend`` with Redis does not.
        return MovingWindowRateLimiter(budget_storage())

    def take(self) -> None:
        """Count one, or raise Limited when the budget is spent."""
        if not self._strategy.hit(self.item, *self.identifiers):
            self._refuse()

    def check(self) -> None:
        """Raise Limited when the budget is spent; count nothing."""
        if not self._strategy.test(self.item, *self.identifiers):
            self._refuse()

    def _refuse(self) -> None:
        reset = self._strategy.get_window_stats(self.item, *self.identifiers).reset_time
        self.refuse(reset)

    def refuse(self, reset_at: float) -> None:
        raise Limited(
            max(1, math.ceil(reset_at - time.time())), scope=self.scope, limit=str(self.item)
        )

    @property
    def key(self) -> str:
        return self.item.key_for(*self.identifiers)


# limits' own moving window (its acquire script: an entry ``limit - 1`` places back that
# is still inside the window means the budget is spent), over several budgets at once:
# if none is spent, one is counted in each of the first ``taken``; else nothing is.
_SPEND = """
local now = tonumber(ARGV[1])
local taken = tonumber(ARGV[2])
for i = 1, #KEYS do
    local limit, expiry = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    local entry = redis.call('lindex', KEYS[i], limit - 1)
    if entry and tonumber(entry) >= now - expiry then
        return {i, entry}
    end
end
for i = 1, taken do
    local limit, expiry = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
    redis.call('lpush', KEYS[i], ARGV[1])
    redis.call('ltrim', KEYS[i], 0, limit - 1)
    redis.call('expire', KEYS[i], expiry)
end
return 0
"""


def spend(*, take: Sequence[Budget], check: Sequence[Budget] = ()) -> None:
    """Count one against each budget in ``take`` unless one of ``take`` or ``check`` is
    spent; then raise Limited for the first spent one.

    With Redis this is one atomic call that counts all or nothing; a request's
    budgets are then one round trip, not one or two each. The database storage
    tests them all, then takes them one at a time.
    """
    storage = budget_storage()
    if not isinstance(storage, RedisStorage):
        # Each is tested first, so a spent one refuses before any is counted; each
        # take is still atomic, and refuses if a racing request spent it meanwhile.
        for budget in [*take, *check]:
            budget.check()
        for budget in take:
            budget.take()
        return
    budgets = [*take, *check]
    if not budgets:
        return
    now = time.time()
    arguments: list[Any] = [now, len(take)]
    for budget in budgets:
        arguments += [budget.item.amount, budget.item.get_expiry()]
    keys = [storage.prefixed_key(budget.key) for budget in budgets]
    refused = _spend_script(storage)(keys, arguments)
    if refused:
        index, entry = refused
        budget = budgets[int(index) - 1]
        budget.refuse(float(entry) + budget.item.get_expiry())


def _spend_script(storage: RedisStorage) -> Any:
    scripts = current_app.extensions.setdefault("campus.spend_scripts", {})
    if id(storage) not in scripts:
        scripts[id(storage)] = storage.get_connection().register_script(_SPEND.encode())
    return scripts[id(storage)]


def sending_budgets(address: Address, *, mailbox: bool = True) -> list[Budget]:
    """The budgets a message to ``address`` spends: its mailbox's (unless ``mailbox`` is
    false), and the global one.

    The mailbox is keyed, so the limiter's keys name no one; ``A@X.com`` and
    ``a+tag@x.com`` share one budget. They are counted under the names Flask-EmailCode
    counts a code's under, in the same storage, so codes and notices share each budget.
    """
    if not limiter.enabled:
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
