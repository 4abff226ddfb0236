"""A member's own pages: their address, and changing it by code."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from campus.blueprints.account import views  # noqa: E402, F401  (registers the routes)
