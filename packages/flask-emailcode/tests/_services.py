"""The real servers these tests use: Redis and PostgreSQL, named by the environment.

``TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``, flushed) and
``TEST_DATABASE_URL`` (a PostgreSQL URL, optional). A missing server skips its
tests with the reason, unless ``EMAILCODE_REQUIRE_SERVICES`` (or the app's
``CAMPUS_REQUIRE_SERVICES``) is set, as CI does, which fails them instead.
"""

from __future__ import annotations

import os
import socket

import pytest

REQUIRED = any(
    os.environ.get(name, "").lower() in ("1", "true", "yes")
    for name in ("EMAILCODE_REQUIRE_SERVICES", "CAMPUS_REQUIRE_SERVICES")
)


def missing(reason: str) -> None:
    """Skip, or fail when services are required."""
    if REQUIRED:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_url() -> str:
    """This pytest-xdist worker's Redis database: one below the last for each, so
    parallel workers never flush each other's."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        base, _, database = url.rpartition("/")
        url = f"{base}/{int(database or 0) - int(worker[2:])}"
    return url


def postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None
