"""Request-rate limits on the endpoints that send or check codes, and on re-authentication.

Four budgets guard every endpoint that mails a code: per recipient mailbox,
per client address, per account, and one global ceiling under the mail
provider's daily cap. The per-client and per-account budgets count every
request, before the view. The per-mailbox and global budgets count only codes
(or notices) actually going out, so the binding takes them at the moment of
sending, atomically (``support.budgets``); a request whose budget is already
spent is refused here, before the view. All of a request's budgets are taken in
one atomic step (``spend``): with Redis, one round trip. They are budgets of
the one mechanism every limit of the app uses (``support.budgets``). ``RATELIMIT_ENABLED=false``
turns these off; the engine's cooldown, attempt limit and failure cap do not
depend on them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from campus.extensions import db
from campus.settings import uses_redis
from campus.support import redis_clients
from campus.support.addresses import Address, BadAddress, parse_address
from campus.support.budgets import Budget, Limited, enabled, sending_budgets, spend
from campus.support.events import event
from campus.support.limit_storage import hit_table, storage_uri
from campus.web.errors import ApiError
from campus.web.forms import body

F = TypeVar("F", bound=Callable[..., Any])

rate_limit_hits = hit_table(db.metadata)


def init_app(app: Flask) -> None:
    if uses_redis(app.config):
        uri, options = redis_clients.limits_storage(app.config)
        app.config.setdefault("RATELIMIT_STORAGE_URI", uri)
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", options)
    else:
        # Every process and host must see the same counts: without Redis they
        # live in the app's database, never in one process's memory.
        with app.app_context():
            engine = db.engine
        app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(engine, rate_limit_hits))
    hops = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]


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


def _client() -> str:
    # The socket's address; ProxyFix rewrites it from X-Forwarded-For only when
    # PROXY_FIX_X_FOR trusted hops are configured.
    return request.remote_addr or "127.0.0.1"


def _budget(setting: str, scope: str, key: str) -> list[Budget]:
    """The budget a setting names for ``key``; none when the setting is unset."""
    return [Budget(setting, scope, key)] if current_app.config.get(setting) else []


def _spend_or_refuse(take: list[Budget], check: list[Budget]) -> None:
    """Spend the request's budgets in one step; a spent one answers 429 (``Limited``)."""
    try:
        spend(take=take, check=check)
    except Limited as limited:
        address = requested_address()
        event(
            "code.limited",
            account=current_user.verification_account if current_user.is_authenticated else None,
            address=address.value if address else None,
            limit=limited.limit,
            scope=limited.scope,
            retry_after=limited.retry_after,
        )
        raise


def code_sending(view: F) -> F:
    """The limits every code-sending endpoint shares, in one round trip before the view.

    Per client address and per account, each request counts. The mailbox's and
    the global budget are only checked here: they count when a message goes out.
    """

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if enabled():
            take = _budget("EMAILCODE_LIMIT_PER_IP", "code-per-ip", _client())
            if current_user.is_authenticated:
                take += _budget("EMAILCODE_LIMIT_PER_ACCOUNT", "code-per-account", _account_key())
            address = requested_address()
            _spend_or_refuse(take, sending_budgets(address) if address is not None else [])
        return view(*args, **kwargs)

    return cast(F, wrapped)


def code_checking(view: F) -> F:
    """Guesses from one client address, whatever account or address they target.

    The engine caps wrong codes per account; this bounds a client that spreads
    its guesses across many accounts.
    """
    return _verify_per_ip(view, when=lambda: True)


def code_checking_when_coded(view: F) -> F:
    """``code_checking`` for a request that carries a ``code`` (log-in takes either kind),
    counted in the same budget."""
    return _verify_per_ip(view, when=lambda: bool(body().get("code")))


def _verify_per_ip(view: F, *, when: Callable[[], bool]) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if enabled() and when():
            ip = _client()
            _spend_or_refuse(_budget("EMAILCODE_VERIFY_LIMIT_PER_IP", "verify-per-ip", ip), [])
        return view(*args, **kwargs)

    return cast(F, wrapped)


def reauth_limit(view: F) -> F:
    """Password confirmations at ``/reauth``, per account."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if enabled():
            budget = _budget("REAUTH_LIMIT_PER_ACCOUNT", "reauth-per-account", _account_key())
            _spend_or_refuse(budget, [])
        return view(*args, **kwargs)

    return cast(F, wrapped)
