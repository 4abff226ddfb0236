"""Refusals a view raises, each answered with the seed's envelope (or a page) by ``handlers``.

This module imports nothing of the project's, so every layer above may raise
these without importing the machinery that answers them.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An expected refusal, answered with an envelope."""

    status = 400

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class BadInput(ApiError):
    """Bad input; ``field`` names the form field the page shows the message beside."""

    def __init__(self, message: str, *, field: str | None = None, **data: Any) -> None:
        if field is not None:
            data["errors"] = {field: message}
        super().__init__(message, **data)


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class Unavailable(ApiError):
    status = 503
