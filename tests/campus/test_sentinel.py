"""Redis through Sentinel: a real master, replica and three sentinels, and a real failover."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from campus.mail import stream
from campus.mail.heartbeat import WORKERS_KEY
from tests.helpers import Api, last_code
from tests.queue_worker import (
    Worker,
    queue_settings,
    settled,
    staff_client,
    status,
    wait_until,
)
from tests.sentinel_cluster import SentinelCluster
from tests.services import CPU_HEAVY
from tests.smtp_server import Inbox


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    """Nothing here lives in the database but accounts; one SQLite file is enough."""
    return sqlite_only


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    started = SentinelCluster(tmp_path).start()
    yield started
    started.close()


@pytest.fixture
def settings(cluster: SentinelCluster, smtp: tuple[int, Inbox]) -> dict[str, Any]:
    return queue_settings(smtp[0], **cluster.settings)


def keys(port: int) -> set[str]:
    return {key.decode() for key in redis.Redis(port=port).keys("*")}


def test_codes_limits_statuses_and_the_queue_live_on_the_sentinels_master(
    make_app: Callable[..., Flask],
    settings: dict[str, Any],
    cluster: SentinelCluster,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    _, inbox = smtp
    app = make_app(**settings, EMAILCODE_LIMIT_PER_ACCOUNT="2/hour")
    assert app.config["MAIL_DELIVERY"] == "queue"
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff_client(app, "staff@example.com")
        # Healthy: the sentinels' master answers, and the worker beats into it.
        assert wait_until(lambda: api.client.get("/healthz").status_code == 200, 15)
        first = api.post("/cms/email_captcha", {"email": "first@example.com"})
        assert first.status_code == 200, first.get_json()
        assert settled(api, first.get_json()["data"]["delivery"]) == "sent"
        second = api.post("/cms/email_captcha", {"email": "second@example.com"})
        assert settled(api, second.get_json()["data"]["delivery"]) == "sent"
        # The account's limit is counted on the master: the third is refused.
        third = api.post("/cms/email_captcha", {"email": "third@example.com"})
        assert third.status_code == 429
        assert int(third.headers["Retry-After"]) > 0
        # The emailed code is checked against the master, once.
        code = last_code(inbox, "second@example.com")
        changed = api.post("/cms/resetemail", {"email": "second@example.com", "captcha": code})
        assert changed.status_code == 200, changed.get_json()
        again = api.post("/cms/resetemail", {"email": "second@example.com", "captcha": code})
        assert again.status_code == 400
        # The change queued a notice to the old address: all three leave the master's
        # stream once delivered, and none waits.
        queue = redis.Redis(port=cluster.master.port)
        assert wait_until(lambda: stream.depth(queue) == 0, 15), stream.oldest(queue)
        on_master = keys(cluster.master.port)
    finally:
        worker.stop()
    kinds = {
        "codes": any(key.startswith("vc:") for key in on_master),
        "limits": any("/campus-limits/code-per-account/" in key for key in on_master),
        "statuses": any(key.startswith("delivery:") for key in on_master),
        "heartbeats": WORKERS_KEY in on_master,
    }
    assert all(kinds.values()), (kinds, on_master)
    assert stream.STREAM in on_master
    arrived = {r.rcpt_tos[0] for r in inbox.received}
    assert {"first@example.com", "second@example.com", "staff@example.com"} <= arrived
    # The replica holds what the master holds: it is what a failover promotes.
    master, replica = cluster.master.port, cluster.replica.port
    assert wait_until(lambda: keys(replica) == keys(master), 5), (keys(replica), keys(master))


# Its sentinels decide on a one-second clock and its answers must come within two: never
# beside the test that fills the cores (tests/services.py, CPU_HEAVY).
@pytest.mark.xdist_group(CPU_HEAVY)
def test_a_failover_under_load_answers_503_only_during_the_switch_and_loses_nothing_after(
    make_app: Callable[..., Flask],
    settings: dict[str, Any],
    cluster: SentinelCluster,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    _, inbox = smtp
    inbox.data_delay = 0.2  # deliveries in flight when the master goes
    app = make_app(
        **settings, EMAILCODE_LIMIT_PER_IP="10000/hour", EMAILCODE_LIMIT_PER_ACCOUNT="10000/hour"
    )
    worker = Worker(tmp_path, settings).start()
    clients = [staff_client(app, f"load{n}@example.com") for n in range(3)]
    results: list[tuple[float, int, float]] = []
    accepted: list[tuple[float, Api, str, str]] = []
    started = time.monotonic()
    switch: dict[str, float] = {}

    def load(n: int) -> None:
        api, sent = clients[n], 0
        while "done" not in switch or time.monotonic() - started < switch["done"] + 4:
            if time.monotonic() - started > 40:
                return
            before = time.monotonic()
            address = f"c{n}-{sent}@example.com"
            response = api.post("/cms/email_captcha", {"email": address})
            results.append((before - started, response.status_code, time.monotonic() - started))
            if response.status_code == 200:
                delivery = response.get_json()["data"]["delivery"]
                accepted.append((before - started, api, delivery, address))
            sent += 1
            time.sleep(0.05)

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            running = [pool.submit(load, n) for n in range(len(clients))]
            time.sleep(2)
            switch["kill"] = time.monotonic() - started
            cluster.kill_master()
            assert cluster.wait_for_switch(), "the sentinels did not promote the replica"
            switch["done"] = time.monotonic() - started
            inbox.data_delay = 0.0  # the rest is delivered quickly
            for future in running:
                future.result()
        kill, done = switch["kill"], switch["done"]
        codes = {code for _, code, _ in results}
        assert codes <= {200, 503}, codes  # never a 500
        assert max(end - at for at, _, end in results) < 2.0  # never a hang
        before = [code for _, code, end in results if end < kill]
        assert before and set(before) == {200}
        refused = [(at, end) for at, code, end in results if code == 503]
        # Refused only while the master was gone and no other had been named yet.
        assert refused, "the loss of the master was never seen"
        assert min(end for _, end in refused) > kill, (kill, refused)
        assert max(at for at, _ in refused) < done + 0.5, (done, refused)
        after = [code for at, code, _ in results if at > done + 0.5]
        assert len(after) > 20 and set(after) == {200}
        # Nothing accepted after the switch is lost: each is sent by the same worker,
        # which found the new master by itself, and each code still works.
        later = [(api, delivery, to) for at, api, delivery, to in accepted if at > done]
        unsettled = lambda: [d for api, d, _ in later if status(api, d) == "queued"]  # noqa: E731
        assert wait_until(lambda: not unsettled(), 40), (len(unsettled()), worker.log())
        assert {status(api, delivery) for api, delivery, _ in later} == {"sent"}
        arrived = {r.rcpt_tos[0] for r in inbox.received}
        assert {to for _, _, to in later} <= arrived
        assert worker.process is not None and worker.process.poll() is None
        assert "Traceback" not in worker.log()
        api, _, to = later[-1]
        check = api.post("/cms/resetemail", {"email": to, "captcha": last_code(inbox, to)})
        assert check.status_code == 200, check.get_json()
        assert wait_until(lambda: app.test_client().get("/healthz").status_code == 200, 15)
    finally:
        worker.stop()


def test_an_app_after_a_sentinel_app_keeps_its_own_limiter_options(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    """Each app's budgets use its own storage options, whatever an earlier app's were."""
    make_app(REDIS_SENTINELS="10.0.0.1:26379", REDIS_SENTINEL_MASTER="main")
    app = make_app(REDIS_URL=redis_url, EMAILCODE_LIMIT_PER_ACCOUNT="1/hour")
    api = staff_client(app, "plain@example.com")
    assert api.post("/cms/email_captcha", {"email": "one@example.com"}).status_code == 200
    assert api.post("/cms/email_captcha", {"email": "two@example.com"}).status_code == 429
