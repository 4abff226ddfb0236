"""The default answers to the extension's refusals: the envelope ``{code, message, data}``.

429 carries ``Retry-After`` and ``data.retry_after``; 400 for a refused code
carries ``data.outcome`` and ``data.attempts_left``. An app turns these off with
``EMAILCODE_REGISTER_ERRORHANDLERS = False``, or registers its own handler for
``EmailCodeError`` (or a subclass), which Flask then prefers.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from flask_emailcode.errors import (
    AddressRefused,
    CodeRefused,
    EmailCodeError,
    Locked,
    TooSoon,
    Unavailable,
)
from flask_emailcode.writing import request_locale, supported, translations


def register(app: Flask) -> None:
    app.register_error_handler(EmailCodeError, answer)


def answer(error: EmailCodeError) -> ResponseReturnValue:
    default = supported(current_app.config["EMAILCODE_DEFAULT_LOCALE"], "en")
    _ = translations(request_locale(default)).gettext
    data: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, Locked):
        message = _("Too many wrong codes. Try again later.")
    elif isinstance(error, TooSoon):
        message = _("Please wait before asking for another code.")
    elif isinstance(error, CodeRefused):
        message = {
            "wrong": _("The code is not right."),
            "expired": _("The code has expired. Ask for a new one."),
        }.get(error.outcome.value, _("The code has been used. Ask for a new one."))
        data = {"outcome": error.outcome.value, "attempts_left": error.attempts_left}
    elif isinstance(error, AddressRefused):
        message = _("That is not an email address a code can be sent to.")
        data = {"reason": error.reason}
    elif isinstance(error, Unavailable):
        message = _("The service is unavailable. Try again in a moment.")
    else:
        message = _("The request was refused.")
    if isinstance(error, TooSoon):
        data = {"retry_after": error.retry_after}
        headers["Retry-After"] = str(error.retry_after)
    body = jsonify(code=error.status, message=message, data=data)
    return body, error.status, headers
