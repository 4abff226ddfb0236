"""Site-wide routes: the front page and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.wrappers import Response

from campus.codes import verifier
from campus.extensions import db
from campus.responses import envelope
from verification import StoreUnavailable

bp = Blueprint("main", __name__)


@bp.get("/")
def home() -> Response:
    return redirect(url_for("cms.index"))


@bp.get("/healthz")
def healthz() -> Response:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  (any failure means "not healthy", and is named)
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    if current_app.config.get("REDIS_URL"):
        try:
            verifier().ping()
            checks["redis"] = "ok"
        except StoreUnavailable as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    if healthy:
        return envelope(200, _("OK"), checks)
    return envelope(
        503, _("The service is temporarily unavailable. Please try again later."), checks
    )
