"""Finding the real servers tests need: use one that runs, start one that is installed.

A missing server skips its tests with the reason printed, unless
CAMPUS_REQUIRE_SERVICES is set (as CI does), where it fails them instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

REQUIRED = os.environ.get("CAMPUS_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip, or fail when services are required."""
    if REQUIRED:
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False
    return True


class RedisServer:
    """A Redis the tests may use: the configured one, or one started for the session."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    def start(self) -> None:
        url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        if _answers(url):
            self.url = url
            return
        binary = shutil.which("redis-server")
        if binary is None:
            self.reason = f"no Redis at {url} and redis-server is not installed"
            return
        self._dir = tempfile.mkdtemp(prefix="campus-redis-")
        port = free_port()
        self._process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", self._dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/15"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _answers(url):
            time.sleep(0.05)
        if _answers(url):
            self.url = url
        else:
            self.reason = "redis-server did not start"

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


def postgres_url() -> str | None:
    """The PostgreSQL URL for database tests, taken only from TEST_DATABASE_URL."""
    return os.environ.get("TEST_DATABASE_URL") or None


def chromium_path() -> Path | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
