"""Site-wide views: the front page, the favicon, re-authentication, health and metrics."""

from __future__ import annotations

from flask import abort, current_app, redirect, request, send_from_directory, url_for
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.wrappers import Response

from campus.blueprints.main import bp
from campus.blueprints.main.forms import ReauthForm
from campus.emailcode import StoreUnavailable, ping
from campus.extensions import db
from campus.mail.queue import queue_checks, queue_depth
from campus.settings import uses_redis
from campus.support import redis_check
from campus.support.metrics import exposition, token_matches
from campus.web.auth import account_required, confirm_password, current_account
from campus.web.errors import BadInput
from campus.web.rate_limits import reauth_limit
from campus.web.responses import envelope, json_only, ok


@bp.get("/")
def home() -> Response:
    return redirect(url_for("access.login"))


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for it on every site; a missing one is an error in their console."""
    static = str(current_app.static_folder)
    return send_from_directory(static, "favicon.ico", mimetype="image/vnd.microsoft.icon")


@bp.post("/reauth")
@account_required
@reauth_limit
def reauth() -> Response:
    """Confirm the password of the logged-in account, for actions that need a recent login."""
    form = ReauthForm().validated()
    if not confirm_password(current_account(), form.password.data):
        raise BadInput(_("Wrong password."), field="password")
    return ok(_("Thank you. Continuing."))


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text for a scraper holding METRICS_TOKEN; no such page without one."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    if not token_matches(request.headers.get("Authorization"), token):
        denied = Response("unauthorized\n", status=401, mimetype="text/plain")
        denied.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return denied
    gauges = {}
    depth = queue_depth()
    if depth is not None:
        gauges["campus_mail_queue_depth"] = ("Messages waiting for a mail worker", float(depth))
    body, content_type = exposition(gauges)
    return Response(body, mimetype=None, content_type=content_type)


@bp.get("/healthz")
@json_only
def healthz() -> Response:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001  (any failure means "not healthy", and is named)
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    if uses_redis(current_app.config):
        try:
            ping()
            checks["redis"] = "ok"
        except StoreUnavailable as exc:
            checks["redis"] = f"error: {redis_check.reason(exc, current_app.config)}"
    if current_app.config["MAIL_DELIVERY"] == "queue" and checks.get("redis") == "ok":
        # Queued mail leaves only with a worker: its silence is an outage of every code.
        checks |= queue_checks()
    healthy = all(value == "ok" for value in checks.values())
    if healthy:
        return envelope(200, _("OK"), checks)
    return envelope(
        503, _("The service is temporarily unavailable. Please try again later."), checks
    )
