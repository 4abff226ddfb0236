"""The language of whatever is being written now: a page, an answer or a mail."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _


def current_locale() -> str:
    """The reader's language as the request (or a job's ``force_locale``) set it."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def site_time(moment: datetime) -> str:
    """A moment in the site's time zone (``SITE_TIMEZONE``), written the reader's way."""
    return str(
        _(
            "%(time)s (%(zone)s)",
            time=format_datetime(moment, "medium"),
            zone=format_datetime(moment, "zzzz"),
        )
    )
