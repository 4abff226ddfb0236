"""A clock the tests move by hand: the one the extension's contract suite uses."""

from __future__ import annotations

from flask_emailcode.testing import FakeClock

__all__ = ["FakeClock"]
