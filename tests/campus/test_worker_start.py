"""Starting the mail worker: ``flask worker`` hands over to the worker's own process,
which alone imports and builds the app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from campus.mail.worker import NO_REDIS
from tests.services import free_port

BIN = Path(sys.executable).parent


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("REDIS_", "MAIL_"))
    }
    return env | {
        "FLASK_DEBUG": "1",  # development: no relay needed to build the app
        "SECRET_KEY": "worker-start-secret-key-012345",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
        "PYTHONPROFILEIMPORTTIME": "1",  # every import, in every process, on stderr
        **extra,
    }


def imports(stderr: str) -> list[str]:
    return [line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line]


def test_flask_worker_imports_and_builds_the_app_once(tmp_path: Path) -> None:
    # A Redis nobody answers at: the worker starts and keeps trying to reach its broker.
    env = environment(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    log = tmp_path / "stderr"
    with log.open("w") as err:
        child = subprocess.Popen(
            [str(BIN / "flask"), "--app", "campus", "worker", "--pool", "threads"],
            env=env, cwd=tmp_path, stdout=err, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # The worker's process has built the app and keeps asking for Redis.
        while "Redis not reachable" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            assert child.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # The flask process found the command and handed over without importing the app.
    assert imports(log.read_text()).count("campus") == 1


def test_flask_worker_without_redis_says_it_needs_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "campus", "worker"],
        env=environment(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert NO_REDIS in done.stderr
