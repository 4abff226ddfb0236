"""The seed's JSON envelope: ``{code, message, data}``, with HTTP status equal to code."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request


def envelope(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    response = jsonify({"code": code, "message": message, "data": data or {}})
    response.status_code = code
    return response


def ok(message: str, **data: Any) -> Response:
    return envelope(200, message, data)


def wants_json() -> bool:
    """Whether this request should be answered with an envelope rather than a page."""
    if request.method not in ("GET", "HEAD"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.headers.get("X-Requested-With") == "XMLHttpRequest"
