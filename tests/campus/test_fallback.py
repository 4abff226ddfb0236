"""A second relay: two real SMTP servers, the primary down, refusing for now, or refusing
for good, in direct delivery and in the worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from campus.extensions import services
from tests.app_fixtures import add_staff
from tests.helpers import Api, last_code, log_in
from tests.queue_worker import QUEUE_SETTINGS, Worker, settled
from tests.services import free_port
from tests.smtp_server import Inbox, smtp_server

NEW = "moved@example.edu"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def primary() -> Iterator[tuple[int, Inbox]]:
    with smtp_server("plain") as server:
        yield server


@pytest.fixture
def fallback() -> Iterator[tuple[int, Inbox]]:
    with smtp_server("plain") as server:
        yield server


def relay_settings(primary_port: int, fallback_port: int) -> dict[str, Any]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": primary_port,
        "MAIL_TIMEOUT": 3,
        "MAIL_FALLBACK_SERVER": "127.0.0.1",
        "MAIL_FALLBACK_PORT": fallback_port,
    }


def staff(app: Flask) -> Api:
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    return api


def relay_of(app: Flask, delivery: str) -> str | None:
    with app.app_context():
        log = services(app).deliveries
        assert log is not None
        found: str | None = log.relay(delivery)
    return found


def ask(api: Api) -> Any:
    return api.post("/cms/email_captcha", {"email": NEW})


# Direct delivery: the fallback is tried within the same request.


def test_direct_primary_down_the_fallback_takes_it_at_once(
    make_app: Callable[..., Flask], fallback: tuple[int, Inbox]
) -> None:
    port, inbox = fallback
    app = make_app(**relay_settings(free_port(), port))
    api = staff(app)
    answer = ask(api)
    assert answer.status_code == 200, answer.get_json()
    assert [r.rcpt_tos for r in inbox.received] == [[NEW]]
    assert relay_of(app, answer.get_json()["data"]["delivery"]) == "fallback"
    done = api.post("/cms/resetemail", {"email": NEW, "captcha": last_code(inbox)})
    assert done.status_code == 200


def test_direct_primary_451_goes_to_the_fallback(
    make_app: Callable[..., Flask], primary: tuple[int, Inbox], fallback: tuple[int, Inbox]
) -> None:
    (first_port, first), (second_port, second) = primary, fallback
    first.data_replies = ["451 4.3.0 try again later"]
    app = make_app(**relay_settings(first_port, second_port))
    answer = ask(staff(app))
    assert answer.status_code == 200
    assert first.received == [] and first.attempts == 1
    assert len(second.received) == 1
    assert relay_of(app, answer.get_json()["data"]["delivery"]) == "fallback"


def test_direct_permanent_refusal_is_not_passed_on(
    make_app: Callable[..., Flask], primary: tuple[int, Inbox], fallback: tuple[int, Inbox]
) -> None:
    (first_port, first), (second_port, second) = primary, fallback
    first.rcpt_reply = "550 5.1.1 no such mailbox"
    app = make_app(**relay_settings(first_port, second_port))
    assert ask(staff(app)).status_code == 503
    assert second.sessions == 0 and second.received == []


def test_direct_both_down_answers_503_and_withdraws_the_code(
    make_app: Callable[..., Flask],
) -> None:
    first_port, second_port = free_port(), free_port()
    app = make_app(**relay_settings(first_port, second_port))
    api = staff(app)
    assert ask(api).status_code == 503
    # The code was withdrawn, so no cooldown holds the next request back.
    with smtp_server("plain", port=first_port) as (_, inbox):
        again = ask(api)
        assert again.status_code == 200
        assert len(inbox.received) == 1
        assert relay_of(app, again.get_json()["data"]["delivery"]) == "primary"


def test_direct_primary_back_takes_mail_again(
    make_app: Callable[..., Flask], fallback: tuple[int, Inbox]
) -> None:
    (second_port, second), first_port = fallback, free_port()
    app = make_app(**{**relay_settings(first_port, second_port), "EMAILCODE_RESEND_COOLDOWN": 0})
    api = staff(app)
    assert relay_of(app, ask(api).get_json()["data"]["delivery"]) == "fallback"
    with smtp_server("plain", port=first_port) as (_, first):
        later = ask(api)
        assert relay_of(app, later.get_json()["data"]["delivery"]) == "primary"
        assert len(first.received) == 1 and len(second.received) == 1


# The worker: the fallback takes the next attempt.


@pytest.fixture
def queued(
    make_app: Callable[..., Flask], redis_url: str
) -> Callable[..., tuple[Flask, dict[str, Any]]]:
    def build(first_port: int, second_port: int, **more: Any) -> tuple[Flask, dict[str, Any]]:
        settings = {**relay_settings(first_port, second_port), "REDIS_URL": redis_url}
        settings |= QUEUE_SETTINGS | more
        return make_app(**settings), settings

    return build


def test_worker_primary_451_the_next_attempt_goes_to_the_fallback(
    queued: Callable[..., tuple[Flask, dict[str, Any]]],
    primary: tuple[int, Inbox],
    fallback: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    (first_port, first), (second_port, second) = primary, fallback
    first.data_replies = ["451 4.3.0 try again later"]
    app, settings = queued(first_port, second_port)
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff(app)
        delivery = ask(api).get_json()["data"]["delivery"]
        assert settled(api, delivery) == "sent", worker.log()
    finally:
        worker.stop()
    assert first.received == [] and len(second.received) == 1
    assert relay_of(app, delivery) == "fallback"
    assert "(primary relay); retrying" in worker.log()


def test_worker_both_down_fails_and_withdraws_the_code(
    queued: Callable[..., tuple[Flask, dict[str, Any]]], tmp_path: Path
) -> None:
    first_port, second_port = free_port(), free_port()
    # Retries stop when the code expires.
    app, settings = queued(first_port, second_port, EMAILCODE_TTL=4)
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff(app)
        delivery = ask(api).get_json()["data"]["delivery"]
        assert settled(api, delivery) == "failed", worker.log()
        assert "(fallback relay)" in worker.log()  # both were tried
        with smtp_server("plain", port=first_port) as (_, inbox):
            again = ask(api)  # withdrawn: no cooldown holds it back
            assert again.status_code == 200
            assert settled(api, again.get_json()["data"]["delivery"]) == "sent"
            assert len(inbox.received) == 1
    finally:
        worker.stop()


def test_worker_permanent_refusal_is_not_retried_anywhere(
    queued: Callable[..., tuple[Flask, dict[str, Any]]],
    primary: tuple[int, Inbox],
    fallback: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    (first_port, first), (second_port, second) = primary, fallback
    first.rcpt_reply = "550 5.1.1 no such mailbox"
    app, settings = queued(first_port, second_port)
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff(app)
        assert settled(api, ask(api).get_json()["data"]["delivery"]) == "failed"
    finally:
        worker.stop()
    assert second.sessions == 0 and "not retried" in worker.log()


def test_worker_primary_back_takes_mail_again(
    queued: Callable[..., tuple[Flask, dict[str, Any]]],
    fallback: tuple[int, Inbox],
    tmp_path: Path,
) -> None:
    (second_port, second), first_port = fallback, free_port()
    app, settings = queued(first_port, second_port, EMAILCODE_RESEND_COOLDOWN=0)
    worker = Worker(tmp_path, settings).start()
    try:
        api = staff(app)
        first_delivery = ask(api).get_json()["data"]["delivery"]
        assert settled(api, first_delivery) == "sent"
        assert relay_of(app, first_delivery) == "fallback"
        with smtp_server("plain", port=first_port) as (_, first):
            later = ask(api).get_json()["data"]["delivery"]
            assert settled(api, later) == "sent"
            assert relay_of(app, later) == "primary" and len(first.received) == 1
    finally:
        worker.stop()
    assert len(second.received) == 1


@pytest.mark.parametrize(
    "settings, error",
    [
        ({"MAIL_FALLBACK_USE_TLS": True, "MAIL_FALLBACK_USE_SSL": True}, "exclusive"),
        ({"MAIL_SERVER": None}, "set MAIL_SERVER first"),
    ],
)
def test_bad_fallback_settings_stop_the_start(
    make_app: Callable[..., Flask], settings: dict[str, Any], error: str
) -> None:
    from campus.settings import ConfigError

    chosen = {k: v for k, v in ({**relay_settings(25, 26), **settings}).items() if v is not None}
    with pytest.raises(ConfigError, match=error):
        make_app(**chosen)
