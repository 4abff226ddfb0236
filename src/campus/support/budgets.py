"""Budgets: how many of something one key may do in a window, in the one shared storage.

The Flask-Limiter instance lives here because two kinds of caller count in
its storage: request decorators (``web.rate_limits``), and code that takes a
budget at the moment something happens (a message going out, a password
tried). Its storage is Redis with ``REDIS_URL``, else the app's database,
never one process's memory, so every process and host sees the same counts.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from campus.support.addresses import Address
from campus.support.keyed import keyed

# The client address comes from the socket; ProxyFix rewrites it from
# X-Forwarded-For only when PROXY_FIX_X_FOR trusted hops are configured.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


class Limited(Exception):
    """A budget is spent: answered 429 with ``retry_after`` seconds until it is not."""

    def __init__(self, retry_after: int, *, scope: str = "") -> None:
        super().__init__(f"{scope or 'limit'}: retry after {retry_after}s")
        self.retry_after = retry_after
        self.scope = scope


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

    def __init__(self, setting: str, scope: str, key: str) -> None:
        self.scope = scope
        self.item: RateLimitItem = parse(str(current_app.config[setting]))
        self.identifiers = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), scope, key)
        self._strategy = MovingWindowRateLimiter(budget_storage())

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
        raise Limited(max(1, math.ceil(reset - time.time())), scope=self.scope)


def sending_budgets(address: Address) -> list[Budget]:
    """The budgets a message to ``address`` spends: its mailbox's, and the global one.

    The mailbox is keyed, so the limiter's keys name no one; ``A@X.com`` and
    ``a+tag@x.com`` share one budget.
    """
    if not limiter.enabled:
        return []
    mailbox = keyed("limit", address.mailbox)
    budgets = [Budget("EMAILCODE_LIMIT_PER_ADDRESS", "code-per-address", mailbox)]
    if current_app.config.get("EMAILCODE_LIMIT_GLOBAL"):
        budgets.append(Budget("EMAILCODE_LIMIT_GLOBAL", "code-global", "all"))
    return budgets


def take_sending_budgets(address: Address) -> None:
    """Spend one message of each budget, or raise Limited and spend nothing more."""
    for budget in sending_budgets(address):
        budget.take()
