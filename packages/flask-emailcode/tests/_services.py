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


class Sentinel:
    """A Redis master and one Sentinel watching it, started for a test (redis-server)."""

    def __init__(self, folder: str) -> None:
        import shutil
        import subprocess
        import time

        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed")
        assert binary is not None
        self.master_port, self.port = free_port(), free_port()
        config = f"{folder}/sentinel.conf"
        with open(config, "w") as file:
            file.write(
                f"port {self.port}\nbind 127.0.0.1\ndir {folder}\n"
                f"sentinel monitor main 127.0.0.1 {self.master_port} 1\n"
            )
        self._processes = [
            subprocess.Popen(
                [binary, "--port", str(self.master_port), "--bind", "127.0.0.1", "--save", ""],
                stdout=subprocess.DEVNULL,
            ),
            subprocess.Popen([binary, config, "--sentinel"], stdout=subprocess.DEVNULL),
        ]
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                found = redis.Redis(port=self.port).sentinel_get_master_addr_by_name("main")
                if found:
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        self.stop()
        missing("the sentinel did not start")

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
            process.wait(timeout=10)
