"""A real mail worker for tests: ``flask --app campus worker`` in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask

from tests.app_fixtures import SECRET, add_staff
from tests.helpers import Api, log_in

# Fast retries for tests, and a killed worker's messages taken over after four seconds.
QUEUE_SETTINGS: dict[str, Any] = {
    "MAIL_RETRY_BASE": 0.3,
    "MAIL_RETRY_MAX_DELAY": 1.5,
    "MAIL_QUEUE_VISIBILITY_TIMEOUT": 4,
}


def queue_settings(smtp_port: int, **redis_and_more: Any) -> dict[str, Any]:
    """The queue's settings for an app and its worker: the Redis given (``REDIS_URL=`` or
    Sentinel's pair), a plain SMTP server on this host, fast retries, and any more."""
    return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp_port, **QUEUE_SETTINGS, **redis_and_more}


class Worker:
    """Start, stop or kill a worker that shares the test app's settings."""

    def __init__(self, directory: Path, settings: dict[str, Any], concurrency: int = 2) -> None:
        self.directory = directory
        self.log_path = directory / f"worker-{time.monotonic_ns()}.log"
        self.env = {
            **os.environ,
            "SECRET_KEY": SECRET,
            "DATABASE_URL": f"sqlite:///{directory / 'worker.sqlite3'}",
            "MAIL_WORKER_CONCURRENCY": str(concurrency),
        }
        self.env.pop("FLASK_DEBUG", None)
        for key, value in settings.items():
            self.env[key] = str(value)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Worker:
        flask = Path(sys.executable).with_name("flask")
        with self.log_path.open("ab") as handle:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [str(flask), "--app", "campus", "worker"],
                cwd=self.directory,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b" ready." in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"worker did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM: the worker reads no more and finishes what it holds."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        """The exit status, once the worker has ended."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """The end of a test's worker: SIGKILL too, the quickest; what it held stays
        unacknowledged in Redis, which each test starts from empty."""
        self.kill()


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def staff_client(app: Flask, email: str = "staff@example.com") -> Api:
    """A logged-in staff member's client, to ask for codes on the CMS's change-email page."""
    api = Api(app.test_client())
    log_in(add_staff(app, email), api)
    return api


def status(api: Api, delivery: str) -> str:
    """The delivery's status, as the page that asked for it polls it."""
    response = api.client.get(f"/cms/email_captcha/{delivery}")
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["data"]["status"])


def settled(api: Api, delivery: str, timeout: float = 20) -> str:
    """The status once it is no longer ``queued`` (or still ``queued`` after ``timeout``)."""
    wait_until(lambda: status(api, delivery) != "queued", timeout)
    return status(api, delivery)
