"""The worker's pool, known before anything is imported: gevent must patch first.

Kept here, with nothing imported, so that ``flask worker`` and ``python -m
campus_worker`` can choose the pool without importing (let alone building) the
app; ``campus.settings`` takes its default from here.
"""

from __future__ import annotations

from collections.abc import Mapping

POOLS = ("gevent", "threads")
DEFAULT_POOL = "gevent"


def pool_from(environ: Mapping[str, str], given: str | None = None) -> str:
    """``--pool`` if given, else ``MAIL_WORKER_POOL`` from the environment, else gevent."""
    pool = given or environ.get("MAIL_WORKER_POOL") or DEFAULT_POOL
    if pool not in POOLS:
        raise ValueError(f"MAIL_WORKER_POOL must be gevent or threads, not {pool!r}")
    return pool
