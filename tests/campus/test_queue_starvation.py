"""A starved worker loses nothing and sends nothing twice.

Thousands of code mails are queued the way the page queues them (limits on,
raised out of reach, as in production), then one worker with the default
gevent pool drains them while busy processes take the machine's cores. Every
message must arrive exactly once, every delivery must read ``sent``, and the
worker's log must hold no connection-pool error, no lost acknowledgement and
no reconnect: each of those is how a message used to be lost or sent twice.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from campus.mail.outbox import delivery_log
from campus.mail.statuses import Status
from campus.support import redis_clients
from campus.support.budgets import budget_storage
from tests.queue_worker import Worker, queue_settings, staff_client, wait_until
from tests.services import CPU_HEAVY
from tests.smtp_server import Inbox

# It fills the cores on purpose: never beside the failover tests, whose sentinels would
# starve (tests/services.py, CPU_HEAVY).
pytestmark = pytest.mark.xdist_group(CPU_HEAVY)

MESSAGES = 3000
HIGH = "1000000/hour"
# Each of these lines is a symptom of a message lost or sent twice.
SYMPTOMS = (
    "MaxConnectionsError",
    "Too many connections",
    "Couldn't ack",
    "Redis connection lost",
    "taking over",
    "not settled",
    "Traceback",
)


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """Three processes that each want a whole core, on a machine that has two."""
    spin = "while True: pass"
    hogs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(3)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def drain_settings(redis_url: str, smtp_port: int) -> dict[str, Any]:
    # Production's visibility timeout and retry pacing: a starved worker holds each
    # message longer than the fast test settings would allow.
    return {
        **queue_settings(smtp_port, REDIS_URL=redis_url),
        "MAIL_RETRY_BASE": 2,
        "MAIL_RETRY_MAX_DELAY": 60,
        "MAIL_QUEUE_VISIBILITY_TIMEOUT": 30,
        "EMAILCODE_LIMIT_PER_ADDRESS": HIGH,
        "EMAILCODE_LIMIT_PER_IP": HIGH,
        "EMAILCODE_LIMIT_PER_ACCOUNT": HIGH,
    }


def queue_code_mails(app: Flask, count: int) -> list[str]:
    api = staff_client(app)
    deliveries = []
    for n in range(count):
        response = api.post("/cms/email_captcha", {"email": f"drain{n}@example.com"})
        assert response.status_code == 200, response.get_json()
        deliveries.append(response.get_json()["data"]["delivery"])
    return deliveries


def statuses(app: Flask, deliveries: list[str]) -> Counter[str]:
    with app.app_context():
        log = delivery_log()
        found = [log.get(delivery) for delivery in deliveries]
    return Counter(str(entry[0]) if entry else "missing" for entry in found)


@pytest.mark.redis
@pytest.mark.parametrize("concurrency", [128], ids=["default"])
def test_a_starved_worker_delivers_every_message_exactly_once(
    make_app: Callable[..., Flask],
    redis_url: str,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
    busy_cores: None,
    concurrency: int,
) -> None:
    port, inbox = smtp
    settings = drain_settings(redis_url, port)
    app = make_app(**settings)
    deliveries = queue_code_mails(app, MESSAGES)
    assert statuses(app, deliveries) == Counter({str(Status.QUEUED): MESSAGES})

    worker = Worker(tmp_path, settings, concurrency=concurrency)
    worker.start(timeout=60)
    try:
        everything_arrived = wait_until(lambda: len(inbox.received) >= MESSAGES, timeout=300)
        settled = wait_until(
            lambda: statuses(app, deliveries)[str(Status.SENT)] == MESSAGES, timeout=30
        )
    finally:
        worker.stop()
    log = worker.log()
    assert everything_arrived, f"{len(inbox.received)} of {MESSAGES} arrived"
    assert settled, statuses(app, deliveries)
    recipients = Counter(rcpt for received in inbox.received for rcpt in received.rcpt_tos)
    assert len(recipients) == MESSAGES
    assert max(recipients.values()) == 1, recipients.most_common(3)
    for symptom in SYMPTOMS:
        assert symptom not in log, f"{symptom!r} in the worker's log:\n{log[-3000:]}"


@pytest.mark.redis
@pytest.mark.parametrize("concurrency", [8, 128, 256])
def test_every_pool_holds_a_connection_for_each_of_the_workers_slots(
    make_app: Callable[..., Flask], redis_url: str, smtp: tuple[int, Inbox], concurrency: int
) -> None:
    """What ran dry under starvation: the app's client, through which every slot writes
    its status and acknowledges, and the limits storage each open at least one
    connection per slot, at any concurrency (the drain above proves what that buys at
    the default)."""
    app = make_app(**drain_settings(redis_url, smtp[0]), MAIL_WORKER_CONCURRENCY=concurrency)
    with app.app_context():
        pools = {
            "client": redis_clients.shared(app).connection_pool.max_connections,
            "limits": budget_storage().get_connection().connection_pool.max_connections,
        }
    assert all(size >= concurrency for size in pools.values()), pools
