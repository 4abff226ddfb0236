"""A Redis server of a test's own, to stop and start at will."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import redis

from tests.services import free_port


class RedisProcess:
    """``redis-server`` on a free port; ``config`` is a file to start from (a sentinel's),
    ``extra`` more command-line settings (``--replicaof``, ``--sentinel``)."""

    def __init__(self, extra: tuple[str, ...] = (), config: str | None = None) -> None:
        self.extra = extra
        self.config = config
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.mkdtemp(prefix="campus-redis-outage-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self._process = subprocess.Popen(
            [
                binary,
                *([self.config] if self.config else []),
                *self.extra,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *([] if "--sentinel" in self.extra else ["--save", ""]),
                "--dir",
                self._dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
