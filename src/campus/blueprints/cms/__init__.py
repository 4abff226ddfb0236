"""The CMS: staff log in and change their email."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cms", __name__, url_prefix="/cms")

from campus.blueprints.cms import views  # noqa: E402, F401  (registers the routes)
