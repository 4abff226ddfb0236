"""Anonymous ways in: log in and out, sign up, reset a forgotten password."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("access", __name__)

from campus.blueprints.access import views  # noqa: E402, F401  (registers the routes)
