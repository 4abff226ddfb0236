"""Request-rate limits on the endpoints that send or check codes (Flask-Limiter).

Four budgets guard every endpoint that mails a code: per recipient mailbox,
per client address, per account, and one global ceiling under the mail
provider's daily cap. The per-client and per-account budgets count every
request, before the view. The per-mailbox and global budgets count only codes
(or notices) actually going out, so the binding takes them at the moment of
sending, atomically (``support.budgets``); a request whose budget is already
spent is refused here, before the view. ``RATELIMIT_ENABLED=false`` turns these
off; the engine's cooldown, attempt limit and failure cap do not depend on them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from campus.extensions import db
from campus.support.addresses import Address, BadAddress, parse_address
from campus.support.budgets import limiter, sending_budgets
from campus.support.limit_storage import hit_table, storage_uri
from campus.web.errors import ApiError
from campus.web.forms import body

F = TypeVar("F", bound=Callable[..., Any])

UNLIMITED = "1000000000/day"

rate_limit_hits = hit_table(db.metadata)


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
        try:
            g.campus_requested_address = parse_address(body().get("email", ""))
        except (BadAddress, ApiError):
            g.campus_requested_address = None
    found: Address | None = g.campus_requested_address
    return found


def _account_key() -> str:
    return str(current_user.get_id()).partition(":")[0] if current_user.is_authenticated else ""


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config.get(name) or UNLIMITED)


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
    return cast(F, _verify_per_ip()(view))


def code_checking_when_coded(view: F) -> F:
    """``code_checking`` for a request that carries a ``code`` (log-in takes either kind),
    counted in the same budget."""
    return cast(F, _verify_per_ip(exempt_when=lambda: not body().get("code"))(view))


def _verify_per_ip(exempt_when: Callable[[], bool] | None = None) -> Any:
    return limiter.shared_limit(
        _setting("EMAILCODE_VERIFY_LIMIT_PER_IP"), scope="verify-per-ip", exempt_when=exempt_when
    )


def reauth_limit(view: F) -> F:
    """Password confirmations at ``/reauth``, per account."""
    limit = limiter.limit(_setting("REAUTH_LIMIT_PER_ACCOUNT"), key_func=_account_key)
    return cast(F, limit(view))
