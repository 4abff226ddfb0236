"""Budgets: how many of something one key may do in a window, on the ``limits`` library.

One mechanism for every limit an app has: the extension's sending and checking
budgets, and any of the app's own (log-in tries, say), all in the storage the
codes use, so every process and host counts in the same place. The strategy is
``limits``' moving window. Several budgets are taken together, all or nothing:
with Redis in one atomic script (``limits``' own acquire logic over several
keys), elsewhere each tested, then each taken atomically.

Every read and write takes the time from one clock, the extension's (the one its
codes use), so a test moves time instead of sleeping. ``limits``' own strategy
objects read the wall clock, so the window is read and taken here, through the
storage's own moving-window calls: its Lua scripts on Redis, and the ``now`` that
the extension's memory and SQL storages accept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage

from flask_emailcode.clocked import Clocked
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
    """The budgets of one app, in one ``limits`` storage, on one clock.

    The storage is Redis (any of ``limits``' Redis storages) or one that takes the
    time it is asked at (``clocked.Clocked``: the extension's memory and SQL
    storages); any other moving-window storage is read at the wall clock.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        prefix: str,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.enabled = enabled
        self.clock = clock
        self._prefix = f"{prefix}-limits"
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
                if self.left(budget) < 1:
                    self._refuse(budget)
            for budget in take:
                # Each take is atomic, and refuses if a racing request spent it meanwhile.
                if not self._acquire(budget):
                    self._refuse(budget)
        except TooSoon:
            raise
        except Exception as exc:
            if _is_storage_error(self.storage, exc):
                raise StoreUnavailable(f"budgets: {type(exc).__name__}") from exc
            raise

    def left(self, budget: Budget) -> int:
        """How many the budget still allows now."""
        return max(0, budget.item.amount - self.window(budget)[1])

    def reset_in(self, budget: Budget) -> int:
        """Seconds until the budget's oldest counted entry leaves its window (at least 1)."""
        start, _ = self.window(budget)
        return max(1, math.ceil(start + budget.item.get_expiry() - self.clock()))

    def window(self, budget: Budget) -> tuple[float, int]:
        """``limits``' moving window now: when its oldest entry was counted, and how many."""
        item, key, now = budget.item, self.key(budget), self.clock()
        storage = self.storage
        if isinstance(storage, RedisStorage):
            found = storage.lua_moving_window(
                [storage.prefixed_key(key)], [now - item.get_expiry(), item.amount]
            )
            return (float(found[0]), int(found[1])) if found else (now, 0)
        if isinstance(storage, Clocked):
            return storage.get_moving_window(key, item.amount, item.get_expiry(), now=now)
        return storage.get_moving_window(key, item.amount, item.get_expiry())  # type: ignore[attr-defined,no-any-return]

    def clear(self, budget: Budget) -> None:
        self.storage.clear(self.key(budget))

    def key(self, budget: Budget) -> str:
        """The key ``limits`` keeps the budget's window under (without a storage prefix)."""
        return budget.item.key_for(self._prefix, budget.scope, budget.key)

    def _acquire(self, budget: Budget) -> bool:
        item, key, storage = budget.item, self.key(budget), self.storage
        if isinstance(storage, Clocked):
            return storage.acquire_entry(key, item.amount, item.get_expiry(), now=self.clock())
        return bool(storage.acquire_entry(key, item.amount, item.get_expiry()))  # type: ignore[attr-defined]

    def _refuse(self, budget: Budget) -> None:
        raise TooSoon(self.reset_in(budget), scope=budget.scope)

    def _spend_at_once(self, take: list[Budget], check: list[Budget]) -> None:
        storage = self.storage
        if not isinstance(storage, RedisStorage):  # pragma: no cover - the caller checked
            raise TypeError("not a Redis storage")
        budgets = [*take, *check]
        now = self.clock()
        arguments: list[Any] = [now, len(take)]
        for budget in budgets:
            arguments += [budget.item.amount, budget.item.get_expiry()]
        keys = [storage.prefixed_key(self.key(budget)) for budget in budgets]
        if self._script is None:
            self._script = storage.get_connection().register_script(_SPEND.encode())
        refused = self._script(keys, arguments)
        if refused:
            index, entry = refused
            budget = budgets[int(index) - 1]
            wait = float(entry) + budget.item.get_expiry() - now
            raise TooSoon(max(1, math.ceil(wait)), scope=budget.scope)


def _is_storage_error(storage: Storage, exc: Exception) -> bool:
    errors = storage.base_exceptions
    return isinstance(exc, errors if isinstance(errors, tuple) else (errors,))
