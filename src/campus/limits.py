"""Request-rate limits on sending codes, with Flask-Limiter.

Four budgets guard every endpoint that mails a code: per recipient address
(normalised, so ``A@X.com`` and ``a@x.com`` share one), per client address, per
account, and one global ceiling under the mail provider's daily cap. The
per-address and global budgets count only codes actually sent; the others count
every request. ``RATELIMIT_ENABLED=false`` turns these off; the engine's
cooldown, attempt limit and failure cap do not depend on them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from campus.addresses import Address, BadAddress, parse_address
from campus.errors import ApiError
from campus.extensions import db
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


def _address_key() -> str:
    """The recipient's mailbox, keyed: the limiter's keys name no one."""
    address = requested_address()
    if address is None:
        return ""
    secret = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    return hmac.new(secret, b"limit|" + address.mailbox.encode(), hashlib.sha256).hexdigest()[:32]


def _account_key() -> str:
    return str(current_user.get_id()).partition(":")[0] if current_user.is_authenticated else ""


def _sent(response: Response) -> bool:
    return response.status_code == 200


def _setting(name: str) -> Callable[[], str]:
    return lambda: str(current_app.config.get(name) or UNLIMITED)


def code_sending(view: F) -> F:
    """The limits every code-sending endpoint shares."""
    decorators = [
        limiter.shared_limit(
            _setting("EMAILCODE_LIMIT_PER_ADDRESS"),
            scope="code-per-address",
            key_func=_address_key,
            exempt_when=lambda: requested_address() is None,
            deduct_when=_sent,
        ),
        limiter.shared_limit(_setting("EMAILCODE_LIMIT_PER_IP"), scope="code-per-ip"),
        limiter.shared_limit(
            _setting("EMAILCODE_LIMIT_PER_ACCOUNT"),
            scope="code-per-account",
            key_func=_account_key,
            exempt_when=lambda: not current_user.is_authenticated,
        ),
        limiter.shared_limit(
            _setting("EMAILCODE_LIMIT_GLOBAL"),
            scope="code-global",
            key_func=lambda: "all",
            exempt_when=lambda: not current_app.config.get("EMAILCODE_LIMIT_GLOBAL"),
            deduct_when=_sent,
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
