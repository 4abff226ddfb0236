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


def for_this_worker(url: str) -> str:
    """The Redis database of this pytest-xdist worker: one below the last for each (tests
    flush theirs), so parallel workers never flush each other's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, database = url.rpartition("/")
    return f"{base}/{int(database or 0) - int(worker[2:])}"


class RedisServer:
    """A Redis the tests may use: the configured one, or one started for the session."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    def start(self) -> None:
        url = for_this_worker(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
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


class PostgresServer:
    """The PostgreSQL tests use: TEST_DATABASE_URL's, or a throwaway one started here.

    Where the PostgreSQL binaries are installed (Debian keeps them under
    /usr/lib/postgresql/<version>/bin), a cluster is made in a temporary folder
    with trust authentication on a free loopback port, and removed at the end.
    PostgreSQL refuses to run as root, so as root it runs as the ``postgres``
    user that Debian's package creates.
    """

    def __init__(self) -> None:
        self.url: str | None = None
        self.reason = ""
        self._started = False
        self._dir: Path | None = None
        self._as: list[str] = []
        self._pg_ctl: Path | None = None

    def start(self) -> None:
        self._started = True
        configured = os.environ.get("TEST_DATABASE_URL")
        if configured:
            self.url = configured
            return
        bindir = _postgres_bindir()
        if bindir is None:
            self.reason = "TEST_DATABASE_URL is not set and PostgreSQL is not installed"
            return
        if os.geteuid() == 0:
            if shutil.which("runuser") is None or not _user_exists("postgres"):
                self.reason = "running as root with no postgres user to run PostgreSQL as"
                return
            self._as = ["runuser", "-u", "postgres", "--"]
        self._dir = Path(tempfile.mkdtemp(prefix="campus-pg-"))
        if self._as:
            shutil.chown(self._dir, user="postgres")
        data, port = self._dir / "data", free_port()
        self._pg_ctl = bindir / "pg_ctl"
        try:
            self._run(bindir / "initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
            options = f"-p {port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            self._run(self._pg_ctl, "-D", str(data), "-w", "-l", str(self._dir / "log"),
                      "-o", options, "start")  # fmt: skip
        except subprocess.CalledProcessError as exc:
            self.reason = f"the throwaway PostgreSQL did not start: {exc.stderr or exc}"
            return
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def stop(self) -> None:
        if self._dir is None:
            return
        if self._pg_ctl is not None and self.url is not None:
            self._run(self._pg_ctl, "-D", str(self._dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def _run(self, *command: object) -> None:
        subprocess.run([*self._as, *map(str, command)], check=True, capture_output=True, text=True)


def _postgres_bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    return installed[-1].parent if installed else None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# The tests that fill the cores on purpose, and those a starved core makes fail (the
# sentinels' one-second decisions): one xdist worker runs them all, one after another
# (``pytest -n 3 --dist loadgroup``).
CPU_HEAVY = "cpu-heavy"

POSTGRES = PostgresServer()


def postgres_url() -> str | None:
    """The PostgreSQL URL for database tests: TEST_DATABASE_URL's, or a throwaway server's.

    The throwaway server starts on first use; ``tests/conftest.py`` stops it.
    None, with ``POSTGRES.reason`` saying why, when there is neither.
    """
    if not POSTGRES._started:
        POSTGRES.start()
    return POSTGRES.url


def chromium_path() -> Path | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
