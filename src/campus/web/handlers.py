"""One place that turns failures into an envelope or a page, by what the request wants."""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from campus.emailcode import IssueRefused, StoreUnavailable, TooManyFailures
from campus.mail.outbox import MailUnavailable
from campus.support.budgets import Limited
from campus.support.metrics import LIMITS_HIT, word
from campus.web.errors import ApiError
from campus.web.responses import envelope, wants_json

log = logging.getLogger(__name__)


def wait_message(wait: int) -> str:
    """The "try again in ..." sentence: in seconds up to two minutes, then in minutes."""
    if wait > 120:
        return str(
            _("Too many requests. Try again in %(minutes)d minutes.", minutes=math.ceil(wait / 60))
        )
    return str(_("Too many requests. Try again in %(seconds)d seconds.", seconds=wait))


def too_many(retry_after: int, message: str) -> Response:
    """429 with both the header and the envelope field, as every limit answers."""
    response = envelope(429, message, {"retry_after": retry_after})
    response.headers["Retry-After"] = str(retry_after)
    return response


def _http_message(code: int) -> str:
    messages = {
        400: _("Bad request."),
        401: _("Please log in first."),
        403: _("You are not allowed to do that."),
        404: _("Not found."),
        405: _("Method not allowed."),
        413: _("The request is too large."),
        429: _("Too many requests. Please try again later."),
    }
    return str(messages.get(code, _("Something went wrong. Please try again later.")))


def _page_or_envelope(code: int, message: str) -> Response | tuple[str, int]:
    if wants_json():
        return envelope(code, message)
    return render_template("error.html", code=code, message=message), code


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response | tuple[str, int]:
        if wants_json():
            return envelope(error.status, error.message, error.data)
        return render_template("error.html", code=error.status, message=error.message), error.status

    @app.errorhandler(Limited)
    def limited(error: Limited) -> Response:
        LIMITS_HIT.labels(word(error.scope)).inc()
        return too_many(error.retry_after, wait_message(error.retry_after))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return envelope(400, _("The page has expired. Reload it and try again."), {"csrf": True})

    @app.errorhandler(IssueRefused)
    def issue_refused(error: IssueRefused) -> Response:
        LIMITS_HIT.labels("failure_cap" if isinstance(error, TooManyFailures) else "cooldown").inc()
        if isinstance(error, TooManyFailures):
            message = _(
                "Too many wrong codes. Try again in %(minutes)d minutes.",
                minutes=max(1, -(-error.retry_after // 60)),
            )
        else:
            message = _(
                "Please wait %(seconds)d seconds before asking for another code.",
                seconds=error.retry_after,
            )
        return too_many(error.retry_after, message)

    @app.errorhandler(StoreUnavailable)
    @app.errorhandler(StorageError)
    @app.errorhandler(RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def backend_down(error: Exception) -> Response | tuple[str, int]:
        log.error("backend unavailable: %s", error.__class__.__name__, exc_info=error)
        return _page_or_envelope(
            503, _("The service is temporarily unavailable. Please try again later.")
        )

    @app.errorhandler(MailUnavailable)
    def mail_down(error: MailUnavailable) -> Response:
        log.error("mail not sent: %s", error)
        return envelope(503, _("The email could not be sent right now. Please try again later."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[str, int]:
        code = error.code or 500
        message = _http_message(code)
        if wants_json():
            response = envelope(code, message)
        else:
            response = app.make_response(
                (render_template("error.html", code=code, message=message), code)
            )
        if code == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error", exc_info=error)
        return _page_or_envelope(500, _http_message(500))
