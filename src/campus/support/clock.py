"""The app's clock: the wall clock, or the one a test hands in as CAMPUS_CLOCK."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app


def now() -> float:
    clock: Callable[[], float] = current_app.config.get("CAMPUS_CLOCK") or time.time
    return clock()
