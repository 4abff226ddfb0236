"""/healthz watches queued mail: a worker heard from lately, and nothing waiting too long."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from campus.mail import heartbeat, stream
from campus.settings import ConfigError
from tests.app_fixtures import add_staff
from tests.helpers import Api, log_in
from tests.queue_worker import Worker, queue_settings, wait_until
from tests.smtp_server import Inbox


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    """The checks read Redis only; one database is enough."""
    return sqlite_only


@pytest.fixture
def settings(redis_url: str, smtp: tuple[int, Inbox]) -> dict[str, Any]:
    return queue_settings(smtp[0], REDIS_URL=redis_url, MAIL_WORKER_SILENCE=2)


def health(app: Flask) -> tuple[int, dict[str, str]]:
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()["data"]


def test_no_worker_ever_is_unhealthy(
    make_app: Callable[..., Flask], settings: dict[str, Any]
) -> None:
    code, checks = health(make_app(**settings))
    assert code == 503
    assert checks["worker"] == "error: no mail worker has reported"
    assert checks["redis"] == "ok" and checks["database"] == "ok"


def test_a_stopped_worker_turns_healthz_503_and_a_new_one_back_to_200(
    make_app: Callable[..., Flask], settings: dict[str, Any], tmp_path: Path
) -> None:
    app = make_app(**settings)
    worker = Worker(tmp_path, settings).start()
    try:
        assert wait_until(lambda: health(app)[0] == 200, 10), health(app)
        assert health(app)[1]["worker"] == "ok"
    finally:
        worker.stop()
    assert wait_until(lambda: health(app)[0] == 503, 10)
    # Saying why, and not before the silence allowed (2 s).
    reason = health(app)[1]["worker"]
    assert reason.startswith("error: no mail worker has reported for ")
    assert float(reason.split(" for ")[1].removesuffix(" s")) >= 2
    worker = Worker(tmp_path, settings).start()
    try:
        assert wait_until(lambda: health(app)[0] == 200, 10), health(app)
    finally:
        worker.stop()


def test_a_message_waiting_too_long_turns_healthz_503(
    make_app: Callable[..., Flask], settings: dict[str, Any], redis_url: str
) -> None:
    app = make_app(**{**settings, "MAIL_QUEUE_MAX_AGE": 1, "MAIL_WORKER_SILENCE": 60})
    # A worker that beats but takes nothing: the queue's age is what is measured.
    heartbeat.beat(redis.Redis.from_url(redis_url), "stuck-worker")
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    assert api.post("/cms/email_captcha", {"email": "new@example.com"}).status_code == 200
    code, checks = health(app)
    assert code == 200 and checks["queue"] == "ok"
    assert wait_until(lambda: health(app)[0] == 503, 5)
    stalled = health(app)[1]
    assert stalled["queue"] == "error: queued mail has waited longer than MAIL_QUEUE_MAX_AGE"
    # Nothing says how much mail waits, or since when: /healthz answers anyone.
    assert not any(ch.isdigit() for value in stalled.values() for ch in value), stalled
    assert health(app)[1]["worker"] == "ok"


def test_direct_delivery_has_no_worker_to_watch(
    make_app: Callable[..., Flask], settings: dict[str, Any]
) -> None:
    code, checks = health(make_app(**settings, MAIL_DELIVERY="direct"))
    assert code == 200 and "worker" not in checks and "queue" not in checks


@pytest.mark.parametrize("name", ["MAIL_WORKER_SILENCE", "MAIL_QUEUE_MAX_AGE"])
def test_the_thresholds_must_be_positive(make_app: Callable[..., Flask], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        make_app(**{name: 0})


def test_queue_health_reads_the_newest_beat_and_the_oldest_message(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    heartbeat.beat(client, "a", now=100.0)
    heartbeat.beat(client, "b", now=130.0)
    stream.add(client, {"delivery": "one", "queued_at": "120.0"})
    stream.add(client, {"delivery": "two", "queued_at": "125.0"})
    found = heartbeat.queue_health(client, now=140.0)
    assert (found.silent_for, found.oldest, found.waiting) == (10.0, 20.0, 2)
    # Beats older than an hour are forgotten as new ones arrive.
    heartbeat.beat(client, "c", now=100.0 + heartbeat.FORGET_AFTER + 1)
    assert client.zscore(heartbeat.WORKERS_KEY, "a") is None
