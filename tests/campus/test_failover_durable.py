"""Failovers that lose nothing, with the shipped deploy/redis.conf and the documented set-up.

A real master and replica, both with the replication lines of
``deploy/redis.conf`` (``min-replicas-to-write``), three sentinels, a real
worker and SMTP server; code requests keep coming from many accounts (one
request each, so every code can be checked on its own) while the master is
handed over (``SENTINEL FAILOVER``) or killed. Every request either lands on
the master that survives or answers 503; afterwards every code that reached an
inbox works, every answered request's limit count is on the new master, and no
503 left a mail behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from tests.app_fixtures import add_staff
from tests.helpers import Api, last_code, log_in
from tests.queue_worker import Worker, queue_settings, status, wait_until
from tests.sentinel_cluster import MASTER_NAME, SentinelCluster
from tests.services import CPU_HEAVY
from tests.smtp_server import Inbox

# Sentinels decide on a one-second clock: never beside the test that fills the cores
# (tests/services.py, CPU_HEAVY).
pytestmark = pytest.mark.xdist_group(CPU_HEAVY)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Enough accounts for each client to keep asking through the switch and after it.
CLIENTS, ACCOUNTS_EACH = 3, 120


def replication_settings() -> tuple[str, ...]:
    """The settings deploy/redis.conf ships, commented, for replicated set-ups."""
    found: list[str] = []
    for line in (DEPLOY / "redis.conf").read_text().splitlines():
        words = line.removeprefix("# ").split()
        if words and words[0] in ("min-replicas-to-write", "min-replicas-max-lag"):
            found += [f"--{words[0]}", *words[1:]]
        if words and words[0] == "repl-diskless-sync-delay":
            found += [f"--{words[0]}", *words[1:]]
    assert len(found) == 6, found
    return tuple(found)


def sentinel_settings() -> str:
    """deploy/sentinel.conf's reconfiguration script, run from this checkout."""
    for line in (DEPLOY / "sentinel.conf").read_text().splitlines():
        if line.startswith("sentinel client-reconfig-script "):
            script = DEPLOY / "campus-sentinel-reconfig"
            return f"sentinel client-reconfig-script {MASTER_NAME} {script}\n"
    raise AssertionError("deploy/sentinel.conf names no client-reconfig-script")


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    api: Api
    account: int
    address: str
    delivery: str | None


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    started = SentinelCluster(
        tmp_path, server_extra=replication_settings(), sentinel_extra=sentinel_settings()
    ).start()
    yield started
    started.close()


def under_load(app: Flask, during: Callable[[], None]) -> tuple[list[Answer], float, float]:
    """Requests from ``CLIENTS`` threads, each from accounts of its own, from before
    ``during`` until 3 s after it; and when ``during`` started and ended."""
    people = [
        [add_staff(app, f"load{n}-{i}@example.com") for i in range(ACCOUNTS_EACH)]
        for n in range(CLIENTS)
    ]
    logged_in = [[log_in(person, Api(app.test_client())) for person in row] for row in people]
    answers: list[Answer] = []
    clock = time.monotonic()
    window: dict[str, float] = {}

    def load(n: int) -> None:
        for i, api in enumerate(logged_in[n]):
            if "end" in window and time.monotonic() - clock > window["end"] + 3:
                return
            address = f"to{n}-{i}@example.com"
            before = time.monotonic() - clock
            response = api.post("/cms/email_captcha", {"email": address})
            data = response.get_json()["data"] or {}
            answers.append(
                Answer(
                    before,
                    time.monotonic() - clock,
                    response.status_code,
                    api,
                    people[n][i].id,
                    address,
                    data.get("delivery"),
                )
            )
            time.sleep(0.2)

    with ThreadPoolExecutor(CLIENTS) as pool:
        running = [pool.submit(load, n) for n in range(CLIENTS)]
        time.sleep(1.5)
        window["start"] = time.monotonic() - clock
        during()
        window["end"] = time.monotonic() - clock
        for future in running:
            future.result()
    return answers, window["start"], window["end"]


def nothing_lost(
    load: tuple[list[Answer], float, float],
    cluster: SentinelCluster,
    inbox: Inbox,
    worker: Worker,
    new: int,
) -> None:
    answers, start, end = load
    assert {a.status for a in answers} <= {200, 503}, {a.status for a in answers}
    assert max(a.ended - a.started for a in answers) < 2.0  # never a hang
    accepted = [a for a in answers if a.status == 200]
    refused = [a for a in answers if a.status == 503]
    assert [a for a in accepted if a.ended < start], "nothing was accepted before"
    assert refused, "the switch was never seen"
    # Within a second of the old master following the new one, every request is taken
    # (connections still open to the old one are dropped at their next command).
    after = [a.status for a in answers if a.started > end + 1.0]
    assert len(after) > 10 and set(after) == {200}, after
    # Every accepted request's mail is delivered, and its code works.
    unsettled = lambda: [a for a in accepted if status(a.api, str(a.delivery)) == "queued"]  # noqa: E731
    assert wait_until(lambda: not unsettled(), 60), (len(unsettled()), worker.log()[-2000:])
    assert {status(a.api, str(a.delivery)) for a in accepted} == {"sent"}
    for answer in accepted:
        code = last_code(inbox, answer.address)
        changed = answer.api.post("/cms/resetemail", {"email": answer.address, "captcha": code})
        assert changed.status_code == 200, (answer, changed.get_json())
    # Every accepted request's limit count is on the master that survived.
    keys = {key.decode() for key in cluster.server(new).keys("*code-per-account*")}
    for answer in accepted:
        assert any(f"/code-per-account/{answer.account}/" in key for key in keys), answer
    # A refused request left nothing behind: no mail went to its address.
    arrived = {rcpt for received in inbox.received for rcpt in received.rcpt_tos}
    assert not {a.address for a in refused} & arrived


@pytest.mark.redis
def test_a_planned_failover_loses_nothing(
    make_app: Callable[..., Flask],
    cluster: SentinelCluster,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    port, inbox = smtp
    settings = queue_settings(port, **cluster.settings)
    app = make_app(**settings, **_high_limits())
    worker = Worker(tmp_path, settings).start()
    old, new = cluster.master.port, cluster.replica.port

    def hand_over() -> None:
        cluster.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        assert cluster.wait_for_switch(), "the sentinels did not hand the master over"
        # The old master follows the new one, which then takes writes again (once that
        # replica's first acknowledgement arrives, later than its link on a busy machine).
        assert wait_until(lambda: _following(cluster, old) and _takes_writes(cluster, new), 20)

    try:
        answers = under_load(app, hand_over)
        nothing_lost(answers, cluster, inbox, worker, new)
    finally:
        worker.stop()


@pytest.mark.redis
def test_an_unplanned_failover_loses_nothing(
    make_app: Callable[..., Flask],
    cluster: SentinelCluster,
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    port, inbox = smtp
    settings = queue_settings(port, **cluster.settings)
    app = make_app(**settings, **_high_limits())
    worker = Worker(tmp_path, settings).start()
    old, new = cluster.master.port, cluster.replica.port

    def kill_and_return() -> None:
        cluster.kill_master()
        assert cluster.wait_for_switch(), "the sentinels did not promote the replica"
        # The new master has no replica, so it takes no writes until the old one
        # comes back and the sentinels make it follow.
        cluster.master.start()
        # The sentinels reconfigure it on their own schedule, slower on a loaded machine;
        # the new master takes writes once that replica's first acknowledgement arrives.
        assert wait_until(lambda: _following(cluster, old) and _takes_writes(cluster, new), 90)

    try:
        answers = under_load(app, kill_and_return)
        nothing_lost(answers, cluster, inbox, worker, new)
    finally:
        worker.stop()


def _following(cluster: SentinelCluster, port: int) -> bool:
    try:
        info: dict[str, Any] = cluster.server(port).info("replication")
    except redis.RedisError:
        return False  # it drops its clients as the sentinels turn it into a replica
    return info["role"] == "slave" and info["master_link_status"] == "up"


def _takes_writes(cluster: SentinelCluster, port: int) -> bool:
    try:
        cluster.server(port).set("failover-probe", "1")
    except redis.RedisError:
        return False  # NOREPLICAS until a replica is counted good
    return True


def _high_limits() -> dict[str, str]:
    return {
        "EMAILCODE_LIMIT_PER_IP": "10000/hour",
        "EMAILCODE_VERIFY_LIMIT_PER_IP": "10000/hour",
        "EMAILCODE_LIMIT_PER_ACCOUNT": "100/hour",
    }
