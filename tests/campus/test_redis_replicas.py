"""With replicas: a right code is answered only once a replica holds its spend, and a master
that may not write (``min-replicas-to-write``) is unavailable, never half-used.

A real master and replica; the replica is paused (SIGSTOP) to stand for one
that lags or is cut off, as it would be just before the master is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from campus.mail import stream
from campus.support import redis_clients
from tests.helpers import last_code
from tests.queue_worker import Worker, queue_settings, staff_client, wait_until
from tests.redis_process import RedisProcess
from tests.smtp_server import Inbox


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def master() -> Iterator[RedisProcess]:
    # Writes stop once no replica has acknowledged for a second, as deploy/redis.conf
    # says for a Sentinel set-up (there with a longer lag).
    server = RedisProcess(("--min-replicas-to-write", "1", "--min-replicas-max-lag", "1"))
    yield server.start()
    server.close()


@pytest.fixture
def replica(master: RedisProcess) -> Iterator[RedisProcess]:
    server = RedisProcess(("--replicaof", "127.0.0.1", str(master.port))).start()
    assert wait_until(lambda: server.client().info("replication")["master_link_status"] == "up", 10)
    # The master counts a replica as good once its acknowledgement has arrived within
    # min-replicas-max-lag: on a loaded machine that comes a moment after the link is up.
    assert wait_until(lambda: not _refuses_writes(master), 10)
    yield server
    server.close()


def app_on(make_app: Callable[..., Flask], master: RedisProcess, smtp_port: int) -> Flask:
    settings: dict[str, Any] = {
        "REDIS_URL": master.url,
        "REDIS_WAIT_REPLICAS": 1,
        "MAIL_DELIVERY": "direct",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
    }
    return make_app(**settings)


def slot_states(server: RedisProcess) -> set[str]:
    client = server.client(decode_responses=True)
    return {
        str(client.hget(key, "state"))
        for key in client.scan_iter("vc:*")
        if client.type(key) == "hash" and client.hget(key, "state")
    }


@pytest.mark.redis
def test_a_right_code_is_answered_once_a_replica_holds_its_spend(
    make_app: Callable[..., Flask],
    master: RedisProcess,
    replica: RedisProcess,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    app = app_on(make_app, master, port)
    api = staff_client(app)
    assert api.post("/cms/email_captcha", {"email": "kept@example.com"}).status_code == 200
    done = api.post("/cms/resetemail", {"email": "kept@example.com", "captcha": last_code(inbox)})
    assert done.status_code == 200, done.get_json()
    # Answered only after the replica had it: the replica holds the slot spent now.
    assert "live" not in slot_states(replica)
    assert slot_states(replica)


@pytest.mark.redis
def test_a_spend_no_replica_confirms_answers_503_and_stays_spent(
    make_app: Callable[..., Flask],
    master: RedisProcess,
    replica: RedisProcess,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    app = app_on(make_app, master, port)
    api = staff_client(app)
    assert api.post("/cms/email_captcha", {"email": "lagging@example.com"}).status_code == 200
    code = last_code(inbox)
    replica.pause()
    try:
        started = time.monotonic()
        answer = api.post("/cms/resetemail", {"email": "lagging@example.com", "captcha": code})
        elapsed = time.monotonic() - started
        assert answer.status_code == 503, answer.get_json()
        assert elapsed < 1.0  # REDIS_WAIT_MS, not a hang
        page = api.client.get("/cms/").get_data(as_text=True)
        assert "lagging@example.com" not in page  # the email did not change
    finally:
        replica.resume()
    assert wait_until(lambda: "live" not in slot_states(replica), 5)
    again = api.post("/cms/resetemail", {"email": "lagging@example.com", "captcha": code})
    assert again.status_code == 400  # spent all the same: a new code is needed


@pytest.mark.redis
def test_a_new_code_no_replica_confirms_is_taken_back_and_never_mailed(
    make_app: Callable[..., Flask],
    master: RedisProcess,
    replica: RedisProcess,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    app = app_on(make_app, master, port)
    api = staff_client(app)
    replica.pause()
    try:
        # Before min-replicas-max-lag runs out the master still writes; the WAIT fails.
        refused = api.post("/cms/email_captcha", {"email": "unkept@example.com"})
        assert refused.status_code == 503, refused.get_json()
        assert not inbox.received
    finally:
        replica.resume()
    assert wait_until(lambda: not _refuses_writes(master), 10)
    # Taken back, cooldown and all: asking again is not "too soon".
    again = api.post("/cms/email_captcha", {"email": "unkept@example.com"})
    assert again.status_code == 200, again.get_json()
    code = last_code(inbox)
    done = api.post("/cms/resetemail", {"email": "unkept@example.com", "captcha": code})
    assert done.status_code == 200, done.get_json()


@pytest.mark.redis
def test_a_master_that_may_not_write_is_unavailable_not_broken(
    make_app: Callable[..., Flask],
    master: RedisProcess,
    replica: RedisProcess,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    app = app_on(make_app, master, port)
    api = staff_client(app)
    replica.pause()
    try:
        # Past min-replicas-max-lag the master refuses every write with NOREPLICAS.
        assert wait_until(lambda: _refuses_writes(master), 10)
        refused = api.post("/cms/email_captcha", {"email": "nowhere@example.com"})
        assert refused.status_code == 503, refused.get_json()
        assert not inbox.received  # no mail for a code that could not be kept
        health = app.test_client().get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["data"]["redis"] == "error: master refuses writes"
    finally:
        replica.resume()
    assert wait_until(lambda: not _refuses_writes(master), 10)
    back = api.post("/cms/email_captcha", {"email": "nowhere@example.com"})
    assert back.status_code == 200, back.get_json()


def _refuses_writes(server: RedisProcess) -> bool:
    try:
        server.client().set("probe", "1")
    except Exception as exc:  # noqa: BLE001  (any refusal counts; its text says which)
        return str(exc).startswith("NOREPLICAS")
    return False


@pytest.mark.redis
def test_a_master_without_replicas_is_not_waited_on(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox]
) -> None:
    """Where no replica exists (a master just promoted, whose old master has not come back
    to follow it), codes are issued and checked as without replicas."""
    port, inbox = smtp
    alone = RedisProcess().start()
    try:
        app = app_on(make_app, alone, port)
        api = staff_client(app)
        sent = api.post("/cms/email_captcha", {"email": "alone@example.com"})
        assert sent.status_code == 200, sent.get_json()
        code = last_code(inbox)
        done = api.post("/cms/resetemail", {"email": "alone@example.com", "captcha": code})
        assert done.status_code == 200, done.get_json()
    finally:
        alone.close()


@pytest.mark.redis
def test_replicated_says_whether_the_replica_holds_every_earlier_write(
    master: RedisProcess, replica: RedisProcess
) -> None:
    client = master.client()
    client.lpush("queue-like", "a message")
    assert redis_clients.replicated(client, replicas=1, timeout_ms=250)
    replica.pause()
    try:
        assert not redis_clients.replicated(client, replicas=1, timeout_ms=250)
    finally:
        replica.resume()
    alone = RedisProcess().start()
    try:  # no replica to ask: nothing to wait for
        assert redis_clients.replicated(alone.client(), replicas=1, timeout_ms=250)
    finally:
        alone.close()


@pytest.mark.redis
def test_a_queued_message_no_replica_confirms_answers_503_and_withdraws_its_code(
    make_app: Callable[..., Flask],
    master: RedisProcess,
    replica: RedisProcess,
    smtp: tuple[int, Inbox],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = queue_settings(smtp[0], REDIS_URL=master.url, REDIS_WAIT_REPLICAS=1)
    app = make_app(**settings)
    assert app.config["MAIL_DELIVERY"] == "queue"
    api = staff_client(app)
    asked: list[int] = []

    def unconfirmed(client: Any, *, replicas: int, timeout_ms: int) -> bool:
        asked.append(replicas)
        return False  # as a replica that did not answer in time

    monkeypatch.setattr(redis_clients, "replicated", unconfirmed)
    refused = api.post("/cms/email_captcha", {"email": "unqueued@example.com"})
    assert refused.status_code == 503, refused.get_json()
    assert asked == [1]
    monkeypatch.undo()
    # Withdrawn, cooldown and all: asking again at once is not "too soon".
    again = api.post("/cms/email_captcha", {"email": "unqueued@example.com"})
    assert again.status_code == 200, again.get_json()
    # The refused request's message did reach the queue; the worker skips it, so the one
    # mail that arrives carries the code that works.
    assert stream.depth(redis.Redis.from_url(master.url)) == 2
    worker = Worker(tmp_path, settings).start()
    try:
        assert wait_until(lambda: stream.depth(redis.Redis.from_url(master.url)) == 0, 30)
        assert wait_until(lambda: len(smtp[1].received) >= 1, 30)
        time.sleep(1)  # the skipped one would have arrived by now
    finally:
        worker.stop()
    assert len(smtp[1].received) == 1
    verified = api.post(
        "/cms/resetemail", {"email": "unqueued@example.com", "captcha": last_code(smtp[1])}
    )
    assert verified.status_code == 200, verified.get_json()
