"""Moving windows on a clock: storages whose calls take the time they are asked at.

``limits``' strategies and storages read the wall clock. The budgets count on the
extension's clock instead (the one its codes use), so a test moves time rather
than sleeping; a ``Clocked`` storage takes that time as ``now=``. Called as
``limits`` calls it, without ``now``, it reads the wall clock like any other.
"""

from __future__ import annotations

from typing import Any

from limits.storage import MemoryStorage
from limits.storage.memory import Entry


class Clocked:
    """A moving-window storage whose calls take ``now``, the time they are asked at."""

    def acquire_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1, *, now: float | None = None
    ) -> bool:
        raise NotImplementedError

    def get_moving_window(
        self, key: str, limit: int, expiry: int, *, now: float | None = None
    ) -> tuple[float, int]:
        raise NotImplementedError


class ClockedMemoryStorage(MemoryStorage, Clocked):
    """``limits``' memory storage, its moving window (the same algorithm) on a clock."""

    def acquire_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1, *, now: float | None = None
    ) -> bool:
        if now is None:
            return super().acquire_entry(key, limit, expiry, amount)
        if amount > limit:
            return False
        with self.locks[key]:
            events: list[Any] = self.events.setdefault(key, [])
            entry = events[limit - amount] if len(events) > limit - amount else None
            if entry is not None and entry.atime >= now - expiry:
                return False
            added = Entry(expiry)
            added.atime, added.expiry = now, now + expiry
            events[:0] = [added] * amount
            # The window reads the newest ``limit`` alone, so nothing older is kept. (The
            # library's sweeper, which runs on the wall clock, is never started here.)
            del events[limit:]
            return True

    def get_moving_window(
        self, key: str, limit: int, expiry: int, *, now: float | None = None
    ) -> tuple[float, int]:
        if now is None:
            return super().get_moving_window(key, limit, expiry)
        events = self.events.get(key, [])
        # Newest first: count those still inside the window; the last of them is the oldest.
        inside = [entry for entry in events[:limit] if entry.atime >= now - expiry]
        return (inside[-1].atime, len(inside)) if inside else (now, 0)
