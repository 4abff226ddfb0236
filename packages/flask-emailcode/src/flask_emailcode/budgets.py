"""Budgets: how many of something one key may do in a window, on the ``limits`` library.

One mechanism for every limit an app has: the extension's sending and checking
budgets, and any of the app's own (log-in tries, say), all in the storage the
codes use, so every process and host counts in the same place. The strategy is
``limits``' moving window. Several budgets are taken together, all or nothing:
with Redis in one atomic script (``limits``' own acquire logic over several
keys), elsewhere each tested, then each taken atomically.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from flask_emailcode.errors import StoreUnavailable, TooSoon


@dataclass(frozen=True)
class Budget:
    """``limit`` (``limits`` notation, ``5/hour``) for one ``key`` of one ``scope``.

    ``key`` should name no one: pass a keyed name (``EmailCode.keyed``), not an
    address or an IP, so the storage's keys say nothing about who asked.
    """

    scope: str
    limit: str
    key: str

    @property
    def item(self) -> RateLimitItem:
        return parse(self.limit)


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


class Budgets:
    """The budgets of one app, in one ``limits`` storage."""

    def __init__(self, storage: Storage, *, prefix: str, enabled: bool = True) -> None:
        self.storage = storage
        self.enabled = enabled
        self._prefix = f"{prefix}-limits"
        self._window = MovingWindowRateLimiter(storage)
        self._script: Any = None

    def spend(self, take: Sequence[Budget], check: Sequence[Budget] = ()) -> None:
        """Count one against each of ``take`` unless one of ``take`` or ``check`` is
        spent; then raise TooSoon for the first spent one, having counted nothing."""
        if not self.enabled or not (take or check):
            return
        try:
            if isinstance(self.storage, RedisStorage):
                self._spend_at_once(list(take), list(check))
                return
            for budget in [*take, *check]:
                if not self._window.test(budget.item, *self._identifiers(budget)):
                    self._refuse(budget)
            for budget in take:
                # Each take is atomic, and refuses if a racing request spent it meanwhile.
                if not self._window.hit(budget.item, *self._identifiers(budget)):
                    self._refuse(budget)
        except TooSoon:
            raise
        except Exception as exc:
            if _is_storage_error(self.storage, exc):
                raise StoreUnavailable(f"budgets: {type(exc).__name__}") from exc
            raise

    def left(self, budget: Budget) -> int:
        """How many the budget still allows now."""
        return int(self._window.get_window_stats(budget.item, *self._identifiers(budget)).remaining)

    def clear(self, budget: Budget) -> None:
        self._window.clear(budget.item, *self._identifiers(budget))

    def _identifiers(self, budget: Budget) -> tuple[str, str, str]:
        return (self._prefix, budget.scope, budget.key)

    def _refuse(self, budget: Budget) -> None:
        reset = self._window.get_window_stats(budget.item, *self._identifiers(budget)).reset_time
        raise TooSoon(max(1, math.ceil(reset - time.time())), scope=budget.scope)

    def _spend_at_once(self, take: list[Budget], check: list[Budget]) -> None:
        storage = self.storage
        if not isinstance(storage, RedisStorage):  # pragma: no cover - the caller checked
            raise TypeError("not a Redis storage")
        budgets = [*take, *check]
        arguments: list[Any] = [time.time(), len(take)]
        for budget in budgets:
            arguments += [budget.item.amount, budget.item.get_expiry()]
        keys = [
            storage.prefixed_key(budget.item.key_for(*self._identifiers(budget)))
            for budget in budgets
        ]
        if self._script is None:
            self._script = storage.get_connection().register_script(_SPEND.encode())
        refused = self._script(keys, arguments)
        if refused:
            index, entry = refused
            budget = budgets[int(index) - 1]
            wait = float(entry) + budget.item.get_expiry() - time.time()
            raise TooSoon(max(1, math.ceil(wait)), scope=budget.scope)


def _is_storage_error(storage: Storage, exc: Exception) -> bool:
    errors = storage.base_exceptions
    return isinstance(exc, errors if isinstance(errors, tuple) else (errors,))
