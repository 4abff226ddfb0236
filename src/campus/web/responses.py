"""The seed's JSON envelope: ``{code, message, data}``, with HTTP status equal to code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, request

F = TypeVar("F", bound=Callable[..., Any])


def envelope(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    response = jsonify({"code": code, "message": message, "data": data or {}})
    response.status_code = code
    return response


def ok(message: str, **data: Any) -> Response:
    return envelope(200, message, data)


def json_only(view: F) -> F:
    """Mark a GET view whose every answer, errors included, is an envelope."""
    view.is_json_only = True  # type: ignore[attr-defined]
    return view


def wants_json() -> bool:
    """Whether this request should be answered with an envelope rather than a page."""
    if request.method not in ("GET", "HEAD"):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "is_json_only", False):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.headers.get("X-Requested-With") == "XMLHttpRequest"
