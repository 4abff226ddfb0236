"""The development mailbox page. Registered only in development."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dev", __name__, url_prefix="/dev")

from campus.blueprints.dev import views  # noqa: E402, F401  (registers the routes)
