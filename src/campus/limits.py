"""Request-rate limits on sending codes, with Flask-Limiter and the limits library.

Four budgets guard every endpoint that mails a code: per recipient mailbox
(``A@X.com``, ``a+tag@x.com`` share one), per client address, per account, and
one global ceiling under the mail provider's daily cap. The per-client and
per-account budgets count every request (Flask-Limiter, before the view). The
per-mailbox and global budgets count only codes (or notices) actually going out,
so they are taken in the same storage at the moment of sending, atomically, by
``take_sending_budgets``; a request whose budget is already spent is refused
before the view. ``RATELIMIT_ENABLED=false`` turns these off; the engine's
cooldown, attempt limit and failure cap do not depend on them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import RateLimitItem, parse
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from campus.addresses import Address, BadAddress, parse_address
from campus.errors import ApiError, Limited
from campus.extensions import db
from campus.keyed import keyed
from campus.limit_storage import storage_uri
from campus.models import rate_limit_hits

F = TypeVar("F", bound=Callable[..., Any])

# The client address comes from the socket; ProxyFix rewrites it from
# X-Forwarded-For only when PROXY_FIX_X_FOR trusted hops are configured.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")

UNLIMITED = "1000000000/day"


def init_app(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
        app.config.setdefault(
            "RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}
        )
    else:
        # Every process and host must see the same counts: without Redis they
        # live in the app's database, never in one process's memory.
        with app.app_context():
            engine = db.engine
        app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(engine, rate_limit_hits))
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "campus-limits")
    limiter.init_app(app)
    hops = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


def retry_after() -> int:
    """Seconds until the limit this request broke lets it through again."""
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, math.ceil(limit.reset_at - time.time()))


def requested_address() -> Address | None:
    """The recipient named in the request body, normalised; None when it is not valid."""
    if "campus_requested_address" not in g:
        from campus.forms import body

        try:
            g.campus_requested_address = parse_address(body().get("email", ""))
        except (BadAddress, ApiError):
            g.campus_requested_address = None
    found: Address | None = g.campus_requested_address
    return found


def _mailbox_key(address: Address) -> str:
    """The recipient's mailbox, keyed: the limiter's keys name no one."""
    return keyed("limit", address.mailbox)


def _account_key() -> str:
    return str(current_user.get_id()).partition(":")[0] if current_user.is_authenticated else ""


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config.get(name) or UNLIMITED)


class Budget:
    """One limit taken in code, atomically, in the storage Flask-Limiter uses."""

    def __init__(self, setting: str, scope: str, key: str) -> None:
        self.scope = scope
        self.item: RateLimitItem = parse(str(current_app.config[setting]))
        self.identifiers = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), scope, key)
        self._strategy = MovingWindowRateLimiter(limiter.storage)

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
    """The budgets a message to ``address`` spends: its mailbox's, and the global one."""
    if not limiter.enabled:
        return []
    budgets = [Budget("EMAILCODE_LIMIT_PER_ADDRESS", "code-per-address", _mailbox_key(address))]
    if current_app.config.get("EMAILCODE_LIMIT_GLOBAL"):
        budgets.append(Budget("EMAILCODE_LIMIT_GLOBAL", "code-global", "all"))
    return budgets


def take_sending_budgets(address: Address) -> None:
    """Spend one message of each budget, or raise Limited and spend nothing more."""
    for budget in sending_budgets(address):
        budget.take()


def _refuse_spent_budgets(view: F) -> F:
    """Answer 429 at once when the named address's budget is already spent."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        address = requested_address()
        for budget in sending_budgets(address) if address is not None else []:
            budget.check()
        return view(*args, **kwargs)

    return cast(F, wrapped)


def code_sending(view: F) -> F:
    """The limits every code-sending endpoint shares."""
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        _refuse_spent_budgets,
        limiter.shared_limit(_setting("EMAILCODE_LIMIT_PER_IP"), scope="code-per-ip"),
        limiter.shared_limit(
            _setting("EMAILCODE_LIMIT_PER_ACCOUNT"),
            scope="code-per-account",
            key_func=_account_key,
            exempt_when=lambda: not current_user.is_authenticated,
        ),
    ]
    wrapped: Callable[..., Any] = view
    for decorate in decorators:
        wrapped = decorate(wrapped)
    return cast(F, wrapped)


def code_checking(view: F) -> F:
    """Guesses from one client address, whatever account or address they target.

    The engine caps wrong codes per account; this bounds a client that spreads
    its guesses across many accounts.
    """
    limit = limiter.shared_limit(_setting("EMAILCODE_VERIFY_LIMIT_PER_IP"), scope="verify-per-ip")
    return cast(F, limit(view))
