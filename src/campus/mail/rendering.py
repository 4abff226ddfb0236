"""Rendering a mail's text, HTML and subject without a request: one Jinja environment
per language, built once per app.

Flask's ``render_template`` runs the app's context processors, sends its
signals and looks the language's catalog up again for every message, and
Flask-Babel's ``force_locale`` rebuilds the language and the time zone each
time. A worker renders hundreds of messages a second in a handful of languages,
so each language's environment is built once: the app's own template loader and
autoescaping, Jinja's i18n extension given that language's catalog (as
Flask-Babel gives it, new-style gettext), and the site's time zone. What it
renders is what ``render_template`` under ``force_locale`` renders, for every
kind of mail (``tests/campus/test_mail_rendering.py``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.support import NullTranslations
from flask import Flask
from flask_babel import force_locale, get_locale, get_timezone, get_translations
from jinja2 import Environment, select_autoescape


@dataclass(frozen=True)
class Language:
    """What writing in one language takes: its catalog, its locale, the site's zone."""

    translations: NullTranslations
    locale: Locale
    zone: tzinfo
    templates: Environment

    def gettext(self, message: str, **variables: Any) -> str:
        # Flask-Babel's own rule: a message is formatted only when given variables.
        found = self.translations.ugettext(message)
        return found % variables if variables else found

    def site_time(self, moment: datetime) -> str:
        """A moment in the site's time zone, written this language's way."""
        return self.gettext(
            "%(time)s (%(zone)s)",
            time=self.time(moment, "medium"),
            zone=self.time(moment, "zzzz"),
        )

    def time(self, moment: datetime, pattern: str) -> str:
        return str(format_datetime(moment, pattern, tzinfo=self.zone, locale=self.locale))

    def render(self, name: str, context: dict[str, Any]) -> str:
        return self.templates.get_template(name).render(context)


class Renderer:
    """The app's languages, each built on first use."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._languages: dict[str, Language] = {}
        self._lock = threading.Lock()

    def language(self, locale: str) -> Language:
        found = self._languages.get(locale)
        if found is None:
            with self._lock:
                found = self._languages.get(locale) or self._build(locale)
                self._languages[locale] = found
        return found

    def _build(self, locale: str) -> Language:
        app = self._app
        with app.app_context(), force_locale(locale):
            translations, chosen, zone = get_translations(), get_locale(), get_timezone()
        if chosen is None or zone is None:
            raise RuntimeError("Flask-Babel is not set up on this app")
        source = app.jinja_env
        # The app's own choices (undefined, whitespace, autoescaping by file name...),
        # without its globals: a mail sees its context and its language, nothing of a request.
        options = {k: v for k, v in app.jinja_options.items() if k != "autoescape"}
        options["extensions"] = [*options.get("extensions", ()), "jinja2.ext.i18n"]
        options.setdefault("auto_reload", source.auto_reload)
        # Autoescaping by file name, as Flask's own ``select_jinja_autoescape`` chooses.
        templates = Environment(
            loader=source.loader,
            autoescape=select_autoescape(("html", "htm", "xml", "xhtml", "svg")),
            **options,
        )
        templates.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=translations.ugettext,
            ngettext=translations.ungettext,
            newstyle=True,
            pgettext=translations.upgettext,
            npgettext=translations.unpgettext,
        )
        return Language(translations, chosen, zone, templates)
