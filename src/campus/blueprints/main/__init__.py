"""Site-wide routes: the front page, re-authentication and the health check."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("main", __name__)

from campus.blueprints.main import views  # noqa: E402, F401  (registers the routes)
