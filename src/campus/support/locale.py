"""The language of whatever is being written now: a page, an answer or a mail."""

from __future__ import annotations

from flask import current_app
from flask_babel import get_locale


def current_locale() -> str:
    """The reader's language as the request (or a job's ``force_locale``) set it."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
