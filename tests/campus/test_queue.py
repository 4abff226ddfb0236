"""Delivery through the mail stream on Redis, with a real worker and a real SMTP server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from campus.mail import sealing, stream
from campus.mail.messages import IssuedCode, MailRequest
from campus.mail.sealing import seal, unseal
from campus.settings import ConfigError
from tests.app_fixtures import SECRET
from tests.helpers import Api, last_code
from tests.queue_worker import (
    Worker,
    queue_settings,
    settled,
    staff_client,
    status,
    wait_until,
)
from tests.redis_process import RedisProcess
from tests.services import free_port
from tests.smtp_server import Inbox, smtp_server

NEW = "queued.person@example.com"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    """The queue does not depend on the database; one is enough here."""
    return sqlite_only


@pytest.fixture
def settings(redis_url: str, smtp: tuple[int, Inbox]) -> dict[str, Any]:
    return queue_settings(smtp[0], REDIS_URL=redis_url)


@pytest.fixture
def queue_app(make_app: Callable[..., Flask], settings: dict[str, Any]) -> Flask:
    app = make_app(**settings)
    assert app.config["MAIL_DELIVERY"] == "queue"
    return app


@pytest.fixture
def worker(tmp_path: Path, settings: dict[str, Any]) -> Iterator[Worker]:
    running = Worker(tmp_path, settings).start()
    yield running
    running.stop()


def test_request_answers_once_queued_and_the_worker_delivers(
    queue_app: Flask, smtp: tuple[int, Inbox], worker: Worker
) -> None:
    _, inbox = smtp
    inbox.data_delay = 1.5  # a slow provider
    api = staff_client(queue_app)
    started = time.monotonic()
    response = api.post("/cms/email_captcha", {"email": NEW})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < inbox.data_delay  # the answer did not wait for SMTP
    delivery = response.get_json()["data"]["delivery"]
    assert status(api, delivery) == "queued"
    assert settled(api, delivery) == "sent"
    assert len(inbox.received) == 1
    assert inbox.received[0].rcpt_tos == [NEW]
    done = api.post("/cms/resetemail", {"email": NEW, "captcha": last_code(inbox)})
    assert done.status_code == 200


def test_a_message_the_stream_refuses_is_answered_503_and_leaves_no_record(
    queue_app: Flask, redis_url: str
) -> None:
    # The record and the stream's entry are one step: with the stream unwritable, the
    # page has no "queued" record to poll and the administrators' log no entry.
    client = redis.Redis.from_url(redis_url)
    client.set(stream.STREAM, "not a stream")
    api = staff_client(queue_app)
    refused = api.post("/cms/email_captcha", {"email": NEW})
    assert refused.status_code == 503, refused.get_json()
    assert list(client.scan_iter("delivery:*")) == []
    # Once it can be written again, the same request is queued with its record.
    client.delete(stream.STREAM)
    queued = api.post("/cms/email_captcha", {"email": NEW})
    assert queued.status_code == 200, queued.get_json()
    delivery = queued.get_json()["data"]["delivery"]
    assert status(api, delivery) == "queued"
    assert stream.oldest(client) is not None
    assert stream.oldest(client)["delivery"] == delivery  # type: ignore[index]


def test_delivery_status_is_for_the_requester_only(queue_app: Flask, worker: Worker) -> None:
    api = staff_client(queue_app)
    delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
    other = staff_client(queue_app, "other@example.com")
    assert other.client.get(f"/cms/email_captcha/{delivery}").status_code == 404
    assert queue_app.test_client().get(f"/cms/email_captcha/{delivery}").status_code == 401
    assert api.client.get("/cms/email_captcha/not-a-delivery").status_code == 404
    assert api.client.get(f"/cms/email_captcha/{delivery}").status_code == 200


def redis_dump(url: str) -> str:
    client = redis.Redis.from_url(url)
    parts: list[str] = []
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"string":
            value: object = client.get(key)
        elif kind == b"hash":
            value = client.hgetall(key)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        elif kind == b"set":
            value = client.smembers(key)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            value = client.xrange(key)
        else:
            value = kind
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


def test_no_plaintext_code_at_rest_in_redis(
    queue_app: Flask, smtp: tuple[int, Inbox], settings: dict[str, Any], tmp_path: Path
) -> None:
    _, inbox = smtp
    api = staff_client(queue_app)
    delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
    queued = redis_dump(settings["REDIS_URL"])  # no worker yet: the message waits in Redis
    tokens = re.findall(r"gAAAAA[A-Za-z0-9_=-]+", queued)
    assert tokens, "the queued message is not in Redis"
    code = unseal(tokens[0], secret_key=SECRET).context["code"]  # only the key opens it
    worker = Worker(tmp_path, settings).start()
    try:
        assert settled(api, delivery) == "sent"
    finally:
        worker.stop()
    assert last_code(inbox) == code
    after = redis_dump(settings["REDIS_URL"])
    for dump in (queued, after):
        assert code not in dump
        assert NEW not in dump
    assert "gAAAAA" not in after  # a settled message leaves the stream


def test_temporary_refusals_are_retried_and_delivered_once(
    queue_app: Flask, smtp: tuple[int, Inbox], worker: Worker
) -> None:
    _, inbox = smtp
    inbox.data_replies = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    api = staff_client(queue_app)
    delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
    assert settled(api, delivery) == "sent"
    assert inbox.attempts == 3
    assert len(inbox.received) == 1
    assert "retrying" in worker.log()


def test_a_rejected_recipient_fails_at_once_and_the_code_is_withdrawn(
    queue_app: Flask, smtp: tuple[int, Inbox], worker: Worker
) -> None:
    _, inbox = smtp
    inbox.rcpt_reply = "550 5.1.1 no such mailbox"
    api = staff_client(queue_app)
    delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
    assert settled(api, delivery) == "failed"
    assert "not retried" in worker.log()
    assert inbox.received == []
    # Nothing arrived, so nothing holds the person back from asking again.
    inbox.rcpt_reply = None
    again = api.post("/cms/email_captcha", {"email": NEW})
    assert again.status_code == 200
    assert settled(api, again.get_json()["data"]["delivery"]) == "sent"


def test_a_server_down_for_ten_seconds_still_gets_the_message(
    queue_app: Flask, settings: dict[str, Any], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    """Retried for longer than the visibility timeout, the message stays with the worker
    trying it: the other worker never takes it over, and it arrives once."""
    _, first = smtp
    down_port = free_port()  # nothing listens here for the first ten seconds
    queue_settings = {**settings, "MAIL_PORT": down_port}
    queue_app.config["MAIL_PORT"] = down_port
    workers = [Worker(tmp_path, queue_settings).start() for _ in range(2)]
    try:
        api = staff_client(queue_app)
        delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
        time.sleep(10)
        assert status(api, delivery) == "queued"
        with smtp_server("plain", port=down_port) as (_, inbox):
            assert settled(api, delivery, timeout=15) == "sent"
            time.sleep(1)  # a second copy would have arrived by now
            assert len(inbox.received) == 1
    finally:
        for worker in workers:
            worker.stop()
    assert first.received == []
    assert sum("retrying" in worker.log() for worker in workers) == 1
    assert not any("taking over" in worker.log() for worker in workers)


def test_a_stopped_worker_finishes_its_sends_and_leaves_its_retries_to_the_next(
    queue_app: Flask, settings: dict[str, Any], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    _, inbox = smtp
    inbox.data_delay = 1.5
    inbox.data_replies = ["451 4.3.0 try again later"]  # for whichever answer comes first
    worker = Worker(tmp_path, {**settings, "MAIL_RETRY_BASE": 30, "MAIL_RETRY_MAX_DELAY": 30})
    worker.start()
    api = staff_client(queue_app)
    deliveries = ask_many(api, 2, "t")
    assert wait_until(lambda: inbox.attempts == 2, 10)
    worker.terminate()  # SIGTERM while both sends wait for their answers
    assert worker.wait(10) == 0, worker.log()
    # The send accepted was finished and settled; the refused one, which would have
    # waited 15 s or more for its next try, was left in Redis, unacknowledged.
    statuses = {status(api, delivery): delivery for delivery in deliveries}
    assert set(statuses) == {"sent", "queued"}
    assert len(inbox.received) == 1
    inbox.data_delay = 0.0
    following = Worker(tmp_path, settings).start()
    try:
        assert settled(api, statuses["queued"], timeout=30) == "sent"
    finally:
        following.stop()
    assert len(inbox.received) == 2


def test_a_worker_killed_mid_send_loses_nothing(
    queue_app: Flask, settings: dict[str, Any], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    _, inbox = smtp
    inbox.data_delay = 3.0
    inbox.data_replies = ["451 4.3.0 the first try never completes"]
    first = Worker(tmp_path, settings).start()
    api = staff_client(queue_app)
    delivery = api.post("/cms/email_captcha", {"email": NEW}).get_json()["data"]["delivery"]
    assert wait_until(lambda: inbox.attempts == 1, 10)
    first.kill()  # mid-send: the server is still holding its DATA answer
    inbox.data_delay = 0.0
    second = Worker(tmp_path, settings).start()
    try:
        assert settled(api, delivery, timeout=30) == "sent"
    finally:
        second.stop()
    assert len(inbox.received) == 1
    assert last_code(inbox)


def ask_many(api: Api, count: int, prefix: str) -> list[str]:
    answers = [
        api.post("/cms/email_captcha", {"email": f"{prefix}{n}@example.com"}) for n in range(count)
    ]
    return [answer.get_json()["data"]["delivery"] for answer in answers]


def test_a_full_worker_takes_the_next_message_as_soon_as_a_slot_frees(
    queue_app: Flask, settings: dict[str, Any], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    """A slot that frees is filled by the next read, with no pause between rounds."""
    _, inbox = smtp
    inbox.data_delay = 0.3
    worker = Worker(tmp_path, settings, concurrency=2).start()
    try:
        api = staff_client(queue_app)
        deliveries = ask_many(api, 8, "s")
        assert wait_until(lambda: len(inbox.received) == 8, 20)
        # Read before the worker is killed: the last status is written just after the send.
        assert [settled(api, d) for d in deliveries] == ["sent"] * 8
    finally:
        worker.stop()
    # Four rounds of two at 0.3 s: well under the four seconds of a pause per round.
    spread = max(inbox.received_at) - min(inbox.received_at)
    assert spread < 2.5, spread


def test_one_connection_carries_many_messages_and_reconnects_when_dropped(
    queue_app: Flask, settings: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    worker = Worker(tmp_path, {**settings, "MAIL_PORT": port}, concurrency=1).start()
    api = staff_client(queue_app)
    try:
        with smtp_server("plain", port=port) as (_, inbox):
            assert [settled(api, d) for d in ask_many(api, 4, "n")] == ["sent"] * 4
            assert inbox.sessions == 1
        # The server went away with the worker's connection; a new one takes its place.
        with smtp_server("plain", port=port) as (_, inbox):
            assert [settled(api, d) for d in ask_many(api, 2, "m")] == ["sent"] * 2
            assert inbox.sessions == 1
            assert len(inbox.received) == 2
    finally:
        worker.stop()


def test_the_providers_send_rate_is_honoured(
    make_app: Callable[..., Flask],
    settings: dict[str, Any],
    smtp: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    _, inbox = smtp
    limited = {**settings, "MAIL_SEND_RATE": "2/second"}
    app = make_app(**limited)
    worker = Worker(tmp_path, limited, concurrency=4).start()
    try:
        api = staff_client(app)
        asked = time.monotonic()
        deliveries = ask_many(api, 6, "r")
        assert [settled(api, d) for d in deliveries] == ["sent"] * 6
    finally:
        worker.stop()
    # At two a second, the fifth and sixth sends wait two seconds after the first
    # could start. Measured from the first request, not the first arrival: a
    # first message slowed by opening its SMTP session must not shorten the span.
    assert max(inbox.received_at) - asked >= 1.95


def test_a_redis_outage_under_load_answers_503_and_recovers(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server = RedisProcess().start()
    port, _ = smtp
    settings = queue_settings(port, REDIS_URL=server.url)
    # Generous request limits: the load is the point here, and the limiter still asks Redis.
    app = make_app(
        **settings, EMAILCODE_LIMIT_PER_IP="10000/hour", EMAILCODE_LIMIT_PER_ACCOUNT="10000/hour"
    )
    worker = Worker(tmp_path, settings).start()
    clients = [staff_client(app, f"load{n}@example.com") for n in range(3)]
    results: list[tuple[float, int, float]] = []
    accepted: list[tuple[float, Api, str]] = []
    started = time.monotonic()

    def load(n: int) -> None:
        api, sent = clients[n], 0
        while time.monotonic() - started < 9:
            before = time.monotonic()
            response = api.post("/cms/email_captcha", {"email": f"c{n}-{sent}@example.com"})
            results.append((before - started, response.status_code, time.monotonic() - before))
            if response.status_code == 200:
                accepted.append((before - started, api, response.get_json()["data"]["delivery"]))
            sent += 1
            time.sleep(0.1)

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            running = [pool.submit(load, n) for n in range(len(clients))]
            time.sleep(2)
            server.stop()
            time.sleep(3)
            server.start()
            for future in running:
                future.result()
        statuses = {status for _, status, _ in results}
        assert statuses <= {200, 503}, statuses  # never a 500
        assert max(latency for _, _, latency in results) < 2.0  # never a hang
        outage = [status for at, status, _ in results if 2.5 < at < 4.5]
        assert outage and set(outage) == {503}
        after = [status for at, status, _ in results if at > 6.5]
        assert after and set(after) == {200}
        # The worker is back too: everything accepted after the restart is delivered.
        later = [(api, delivery) for at, api, delivery in accepted if at > 6.5]
        assert {settled(api, delivery) for api, delivery in later} == {"sent"}
    finally:
        worker.stop()
        server.close()


def test_a_busy_worker_recovers_from_a_redis_restart(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    """Redis restarts while messages are taken but unacknowledged and the consumer
    is waiting for more: the worker reconnects and goes on delivering."""
    server = RedisProcess().start()
    port, inbox = smtp
    settings = queue_settings(port, REDIS_URL=server.url)
    app = make_app(**settings)
    worker = Worker(tmp_path, settings, concurrency=4).start()
    try:
        api = staff_client(app)
        first = api.post("/cms/email_captcha", {"email": "before@example.com"})
        assert settled(api, first.get_json()["data"]["delivery"]) == "sent"
        # Two sends in flight, two threads free: the consumer holds unacknowledged
        # messages and a blocking read on the queue when the connection goes.
        inbox.data_delay = 2.0
        busy = [staff_client(app, f"busy{n}@example.com") for n in range(2)]
        for n, client in enumerate(busy):
            assert (
                client.post("/cms/email_captcha", {"email": f"slow{n}@example.com"}).status_code
                == 200
            )
        assert wait_until(lambda: inbox.attempts == 3, 10)
        server.stop()
        inbox.data_delay = 0.0
        time.sleep(3)
        server.start()
        back = "Redis connection back"
        reconnected = wait_until(lambda: back in worker.log().rsplit("lost", 1)[-1], 30)
        assert reconnected, worker.log()
        last = api.post("/cms/email_captcha", {"email": "after@example.com"})
        assert last.status_code == 200
        assert settled(api, last.get_json()["data"]["delivery"]) == "sent", worker.log()
        assert any(r.rcpt_tos == ["after@example.com"] for r in inbox.received)
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()
        server.close()


def test_a_worker_whose_every_slot_lost_its_ack_reconnects(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], tmp_path: Path
) -> None:
    """Redis goes while every slot is sending: each acknowledgement is lost, yet the
    slots are freed, so the worker reads again, finds the loss and reconnects."""
    server = RedisProcess().start()
    port, inbox = smtp
    settings = queue_settings(port, REDIS_URL=server.url)
    app = make_app(**settings)
    worker = Worker(tmp_path, settings, concurrency=2).start()
    try:
        inbox.data_delay = 1.5
        busy = [staff_client(app, f"busy{n}@example.com") for n in range(2)]
        for n, client in enumerate(busy):
            sent = client.post("/cms/email_captcha", {"email": f"slow{n}@example.com"})
            assert sent.status_code == 200
        assert wait_until(lambda: inbox.attempts == 2, 10)
        server.stop()
        inbox.data_delay = 0.0
        # Each slot first tries its status write and its acknowledgement again for some
        # seconds (a slow Redis is no lost one), then gives up.
        assert wait_until(lambda: worker.log().count("Couldn't ack") == 2, 25), worker.log()
        server.start()
        api = staff_client(app)
        last = api.post("/cms/email_captcha", {"email": "after@example.com"})
        assert last.status_code == 200
        assert settled(api, last.get_json()["data"]["delivery"]) == "sent", worker.log()
    finally:
        worker.stop()
        server.close()


def test_a_visibility_timeout_shorter_than_the_workers_marking_stops_the_start(
    make_app: Callable[..., Flask], settings: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError, match="MAIL_QUEUE_VISIBILITY_TIMEOUT must be at least 2"):
        make_app(**{**settings, "MAIL_QUEUE_VISIBILITY_TIMEOUT": 1})
    assert make_app(**{**settings, "MAIL_QUEUE_VISIBILITY_TIMEOUT": 2})


# Names a delivery id could be mistaken for: the log's own keys, and ids of other shapes.
NOT_DELIVERY_IDS = ["recent", "delivery:recent", "a" * 21, "a" * 23, "a" * 200,
                    "abcdefghijklmnopqrstu=", "abcdefghijklmnop.rstuv", "*", "%2A"]  # fmt: skip


@pytest.mark.parametrize("name", NOT_DELIVERY_IDS)
def test_anything_but_a_delivery_id_is_not_found_whatever_the_log_holds(
    queue_app: Flask, name: str
) -> None:
    api = staff_client(queue_app)
    sent = api.post("/cms/email_captcha", {"email": NEW})  # the log's index now exists
    assert sent.status_code == 200
    response = api.client.get(f"/cms/email_captcha/{name}")
    assert response.status_code == 404, (name, response.status_code, response.get_json())


def test_a_queued_request_keeps_whom_its_code_was_for_typed_and_one_sealed_before_too() -> None:
    issued = IssuedCode(purpose="sign_up", account="", address="a@example.com")
    request = MailRequest(kind="sign_up_code", to="a@example.com", locale="zh", issued=issued)
    assert unseal(seal(request, secret_key=SECRET), secret_key=SECRET).issued == issued
    # A message the previous release queued carried a plain mapping with the same keys.
    old = {**asdict(request), "issued": {**asdict(issued), "account": "addr:0f"}}
    token = sealing._fernet(SECRET).encrypt(json.dumps(old).encode()).decode()
    found = unseal(token, secret_key=SECRET).issued
    assert found == IssuedCode("sign_up", "addr:0f", "a@example.com")
