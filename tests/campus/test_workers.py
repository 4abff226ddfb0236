"""Every limit holds across processes: gunicorn with four workers, as operators run it.

Production settings (no debug, a real SMTP server), on SQLite and PostgreSQL,
with and without Redis. Requests run in parallel, each on its own connection,
so the workers serve them side by side; a limit counted in one process's
memory would let each worker grant the whole budget.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from campus import create_app
from campus.extensions import db
from tests.app_fixtures import SECRET, add_staff, base_config
from tests.helpers import PASSWORD
from tests.http_client import Client, production_env, serve
from tests.services import free_port
from tests.smtp_server import Inbox, smtp_server

WORKERS = 4


@pytest.fixture(params=["database", "redis"])
def limits_store(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("redis_url") if request.param == "redis" else None


@pytest.fixture
def server(
    tmp_path: Path, database_uri: str, limits_store: str | None
) -> Iterator[tuple[int, Inbox, Flask]]:
    """gunicorn -w 4 on this test's database, mailing a real SMTP server."""
    with smtp_server("plain") as (smtp_port, inbox):
        settings = {
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_uri,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "PROXY_FIX_X_FOR": "1",
            "EMAILCODE_LIMIT_PER_IP": "3/hour",
            "EMAILCODE_LIMIT_PER_ADDRESS": "2/hour",
            "EMAILCODE_RESEND_COOLDOWN": "0",
            "LOGIN_LIMIT_PER_ACCOUNT": "3/hour",
            "REAUTH_LIMIT_PER_ACCOUNT": "2/hour",
            "EMAILCODE_LIMIT_PER_ACCOUNT": "3/hour",
        }
        if limits_store:
            settings |= {"REDIS_URL": limits_store, "MAIL_DELIVERY": "direct"}
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}"]
        with serve(
            [*command, "campus:create_app()"], port=port, env=production_env(settings), cwd=tmp_path
        ):
            # An app on the same database, to create accounts as the CLI would.
            app = create_app(base_config(tmp_path, database_uri, **_typed(settings)))
            yield port, inbox, app
            with app.app_context():
                db.engine.dispose()


def _typed(settings: dict[str, str]) -> dict[str, Any]:
    keep = ("REDIS_URL", "MAIL_DELIVERY")
    return {k: v for k, v in settings.items() if k in keep}


def parallel(count: int, call: Callable[[int], int]) -> list[int]:
    """Run ``call(n)`` for n in range(count), all at once; their answers, sorted."""
    start = threading.Barrier(count)
    results: list[int] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        start.wait()
        answer = call(n)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)


def anonymous(port: int, ip: str) -> Client:
    client = Client(port, ip)
    assert client.request("GET", "/signup") == 200
    return client


def test_limits_hold_across_four_workers(server: tuple[int, Inbox, Flask]) -> None:
    port, inbox, app = server
    # Per client address: 3 code requests an hour, whichever worker answers.
    one_client = [anonymous(port, "198.51.100.1") for _ in range(10)]
    answers = parallel(10, lambda n: one_client[n].post("/signup/code", {"email": f"u{n}@ex.org"}))
    assert answers == [200] * 3 + [429] * 7

    # Per mailbox: 2 codes an hour, however it is spelled, from ten client addresses.
    clients = [anonymous(port, f"198.51.100.{10 + n}") for n in range(10)]
    answers = parallel(
        10, lambda n: clients[n].post("/signup/code", {"email": f"inbox+{n}@example.com"})
    )
    assert answers.count(200) >= 2
    deadline = time.monotonic() + 10
    while len([r for r in inbox.received if r.rcpt_tos[0].startswith("inbox")]) < 2:
        assert time.monotonic() < deadline, "the two codes did not arrive"
        time.sleep(0.05)
    time.sleep(1)  # anything past the budget would have arrived by now
    assert len([r for r in inbox.received if r.rcpt_tos[0].startswith("inbox")]) == 2

    # Password tries per account: 3 an hour from browsers it has not logged in on.
    staff = add_staff(app, "staff@example.com")
    guessers = [anonymous(port, f"203.0.113.{n}") for n in range(10)]
    answers = parallel(
        10, lambda n: guessers[n].post("/login", {"email": staff.email, "password": f"x{n}"})
    )
    assert answers == [400] * 3 + [429] * 7

    # Re-authentication: 2 tries an hour per account, across workers.
    other = add_staff(app, "other@example.com")
    owner = anonymous(port, "192.0.2.50")
    assert owner.post("/login", {"email": other.email, "password": PASSWORD}) == 200
    assert owner.request("GET", "/cms/") == 200
    answers = parallel(6, lambda n: owner.post("/reauth", {"password": f"wrong {n}"}))
    assert answers == [400] * 2 + [429] * 4

    # Codes per account: 3 an hour, whichever address and worker each request reaches.
    senders = [owner.elsewhere(f"198.51.100.{100 + n}") for n in range(8)]
    answers = parallel(
        8, lambda n: senders[n].post("/cms/email_captcha", {"email": f"new{n}@example.com"})
    )
    assert answers == [200] * 3 + [429] * 5
