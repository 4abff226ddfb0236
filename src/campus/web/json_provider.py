"""JSON bodies that cannot crash a request, however deeply they nest."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


class SafeJSONProvider(DefaultJSONProvider):
    """Flask's provider, but a body nested past the interpreter's stack is bad JSON.

    ``json.loads`` raises RecursionError (not ValueError) on ``[`` thirty thousand
    deep; werkzeug turns only ValueError into a 400, so without this every POST,
    and the rate limiter's key function before it, would answer 500.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc
