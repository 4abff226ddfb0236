"""Sessions: who is logged in, fresh sessions on login, and who may use what."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, current_app, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import bindparam, delete, select
from werkzeug.wrappers import Response

from campus.extensions import db, login_manager
from campus.models import Account, LoginSession
from campus.support import clock
from campus.support.passwords import check_password
from campus.web.devices import remember_device
from campus.web.errors import Forbidden, Unauthorized
from campus.web.responses import wants_json

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_account)
    login_manager.unauthorized_handler(_unauthorized)


# Built once: every request that carries a session runs it with its own values.
_LIVE_SESSION_ACCOUNT = (
    select(Account)
    .join(LoginSession, LoginSession.account_id == Account.id)
    .where(
        Account.id == bindparam("account_id"),
        LoginSession.id == bindparam("sid"),
        LoginSession.expires_at > bindparam("now"),
    )
)


def load_account(login_id: str) -> Account | None:
    """The account of a live session: ``<id>:<token>``, and a server-side session row.

    A rotated account token ends every session of the account; a deleted row
    (log-out) ends that one session, whatever copies of its cookie exist.
    """
    account_id, _, token = login_id.partition(":")
    sid = session.get("sid")
    if not account_id.isdigit() or not token or not isinstance(sid, str):
        return None
    account: Account | None = db.session.scalar(
        _LIVE_SESSION_ACCOUNT, {"account_id": int(account_id), "sid": sid, "now": int(clock.now())}
    )
    if account is None or not hmac.compare_digest(account.session_token, token):
        return None
    return account


def _start_session(account: Account, auth_at: int) -> None:
    """A fresh cookie session and its server-side row, replacing the current one."""
    now = int(clock.now())
    old = session.get("sid")
    lifetime = int(current_app.permanent_session_lifetime.total_seconds())
    sid = secrets.token_urlsafe(32)
    db.session.execute(
        delete(LoginSession).where(
            (LoginSession.id == old)
            | ((LoginSession.account_id == account.id) & (LoginSession.expires_at <= now))
        )
    )
    db.session.add(LoginSession(id=sid, account_id=account.id, expires_at=now + lifetime))
    db.session.commit()
    session.clear()
    login_user(account)
    session["sid"] = sid
    session["auth_at"] = auth_at


def sign_in(account: Account) -> None:
    """Log in with a brand-new session, so nothing planted before login survives it."""
    _start_session(account, int(clock.now()))
    remember_device(account)


def renew_session(account: Account) -> None:
    """A new session for the same login, after the account's token changed."""
    auth_at = session.get("auth_at")
    _start_session(account, auth_at if isinstance(auth_at, int) else int(clock.now()))


def confirm_password(account: Account, password: str) -> bool:
    """Re-authenticate: a right password makes the login recent again."""
    if not check_password(account.password_hash, password):
        return False
    session["auth_at"] = int(clock.now())
    return True


def recent_login_required(view: F) -> F:
    """Sensitive actions need a login (or a password check) within REAUTH_MAX_AGE."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        auth_at = session.get("auth_at")
        max_age = int(current_app.config["REAUTH_MAX_AGE"])
        if not isinstance(auth_at, int) or clock.now() - auth_at > max_age:
            raise Unauthorized(_("Please enter your password again to continue."), reauth=True)
        return view(*args, **kwargs)

    return cast(F, wrapped)


def sign_out() -> None:
    """End this session on the server too: a copy of its cookie opens nothing."""
    sid = session.get("sid")
    if isinstance(sid, str):
        db.session.execute(delete(LoginSession).where(LoginSession.id == sid))
        db.session.commit()
    logout_user()
    session.clear()


def _unauthorized() -> Response:
    if wants_json():
        raise Unauthorized(_("Please log in first."))
    login = "cms.login" if request.path.startswith("/cms") else "access.login"
    return redirect(url_for(login, next=request.full_path.rstrip("?")))


def account_required(view: F) -> F:
    """Logged in, as anyone: 401 (or the login page) when anonymous."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _role_required(
    allowed: Callable[[Account], bool], refusal: Callable[[], str]
) -> Callable[[F], F]:
    """A view for logged-in accounts that ``allowed`` admits: 401 when anonymous, else 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not allowed(current_user):
                raise Forbidden(refusal())
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


# Logged in as staff (administrators are staff too); members are refused.
staff_required = _role_required(
    lambda account: account.is_staff, lambda: _("This area is for staff only.")
)
# Logged in as an administrator; other staff and members are refused.
admin_required = _role_required(
    lambda account: account.is_admin, lambda: _("This page is for administrators only.")
)


def current_account() -> Account:
    account: Account = current_user._get_current_object()
    return account
