"""Small helpers the tests share: a clock moved by hand, and a bare app."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask


class Clock:
    """A clock the tests move by hand (the extension's ``clock`` hook)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_app(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test-secret-key-of-enough-length", TESTING=True)
    app.config.update(config)
    return app
