"""Where slots live: the SQL store (embedded default) and the Redis store."""

from __future__ import annotations

from flask_emailcode.core.stores.base import CodeStore, Record, Refusal, Slot

__all__ = ["CodeStore", "Record", "Refusal", "Slot"]
