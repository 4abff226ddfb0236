"""Languages: Chinese unless the browser prefers English."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import get_locale

from campus.extensions import babel


def select_locale() -> str:
    languages = list(current_app.config["LANGUAGES"])
    best = request.accept_languages.best_match(languages)
    return str(best or current_app.config["BABEL_DEFAULT_LOCALE"])


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(lambda: {"locale": str(get_locale())})
