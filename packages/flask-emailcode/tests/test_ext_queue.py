"""Queued delivery on Celery: a real worker (in this process) on a real Redis broker,
sending to a real SMTP server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller
from celery import Celery, Task
from celery.contrib.testing.worker import start_worker
from flask import Flask

from _helpers import make_app
from _services import free_port
from conftest import Inbox
from flask_emailcode import EmailCode
from flask_emailcode.queue import BACKOFF, CeleryQueue


def build(redis_url: str, smtp_port: int, **config: Any) -> tuple[Flask, EmailCode, CeleryQueue]:
    app = make_app(
        EMAILCODE_STORAGE_URI=redis_url,
        EMAILCODE_RESEND_COOLDOWN=0,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp_port,
        MAIL_DEFAULT_SENDER="noreply@forum.example",
        MAIL_BACKEND="smtp",  # Flask-Mailman holds mail back under TESTING otherwise
        MAIL_TIMEOUT=2,
        **config,
    )
    from flask_mailman import Mail

    Mail(app)
    emailcode = EmailCode(app)
    celery = celery_for(app, redis_url)
    return app, emailcode, CeleryQueue(celery, emailcode)


def celery_for(app: Flask, broker: str) -> Celery:
    """Flask's own pattern (``celery_init_app``): every task runs in the app's context."""

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(broker_url=broker, task_ignore_result=True, worker_hijack_root_logger=False)
    return celery


@contextmanager
def worker(celery: Celery) -> Iterator[None]:
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def wait_until(done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def every_byte_in(url: str) -> bytes:
    client = redis.Redis.from_url(url)
    found = b""
    for key in client.scan_iter():
        kind = client.type(key)
        if kind == b"list":
            found += b"".join(client.lrange(key, 0, -1))
        elif kind == b"string":
            found += client.get(key) or b""
        elif kind == b"hash":
            found += b"".join(k + v for k, v in client.hgetall(key).items())
    return found


def code_in(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    return str(next(line for line in text.splitlines() if line.strip() and line.isalnum()))


def test_a_queued_mail_waits_sealed_and_a_worker_sends_it(
    redis_url: str, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    app, emailcode, queue = build(redis_url, port)
    with app.test_request_context():
        sent = emailcode.send("sign_up", to="new@example.com")
        assert sent.delivery and emailcode.status(sent.delivery) == "queued"
    assert inbox.messages == []
    waiting = every_byte_in(redis_url)
    assert b"new@example.com" not in waiting  # the broker holds ciphertext only
    with worker(queue.task.app):
        wait_until(lambda: len(inbox.messages) == 1)
        with app.app_context():
            wait_until(lambda: emailcode.status(sent.delivery) == "sent")
    (message,) = inbox.messages
    code = code_in(message)
    assert code.encode() not in waiting
    assert message["To"] == "new@example.com"
    with app.test_request_context():
        emailcode.verify("sign_up", address="new@example.com", code=code)


def test_a_message_handed_out_twice_is_sent_once(redis_url: str, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    app, emailcode, queue = build(redis_url, port)
    tokens: list[str] = []
    original = queue.seal

    def kept(mail: Any) -> str:
        tokens.append(original(mail))
        return tokens[-1]

    queue.seal = kept  # type: ignore[method-assign]
    with app.test_request_context():
        sent = emailcode.send("sign_up", to="new@example.com")
    queue.task.apply_async(args=[tokens[0]])  # the broker's second copy
    with worker(queue.task.app):
        wait_until(lambda: len(inbox.messages) >= 1)
        with app.app_context():
            wait_until(lambda: emailcode.status(sent.delivery) == "sent")
        time.sleep(1)  # a second copy would have been sent by now
    assert len(inbox.messages) == 1


def test_a_mail_server_that_is_down_is_tried_again(redis_url: str) -> None:
    port = free_port()
    app, emailcode, queue = build(redis_url, port)
    with app.test_request_context():
        sent = emailcode.send("sign_up", to="new@example.com")
    inbox = Inbox()
    with worker(queue.task.app):
        time.sleep(0.5)  # the first try finds nothing listening
        with app.app_context():
            assert emailcode.status(sent.delivery) == "queued"
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            wait_until(lambda: len(inbox.messages) == 1)
            with app.app_context():
                wait_until(lambda: emailcode.status(sent.delivery) == "sent")
        finally:
            controller.stop()


def test_a_mail_that_outwaited_its_code_is_not_sent_and_the_code_is_withdrawn(
    redis_url: str, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    app, emailcode, queue = build(redis_url, port, EMAILCODE_PURPOSES={"sign_up": {"ttl": 1}})
    failed: list[str] = []
    from flask_emailcode import signals

    def noted(sender: object, **extra: Any) -> None:
        failed.append(str(extra.get("delivery")))

    signals.delivery_failed.connect(noted)
    try:
        with app.test_request_context():
            sent = emailcode.send("sign_up", to="new@example.com")
        time.sleep(1.2)  # no worker yet: the code dies in the queue (the wall clock's)
        with worker(queue.task.app), app.app_context():
            wait_until(lambda: emailcode.status(sent.delivery) == "failed")
    finally:
        signals.delivery_failed.disconnect(noted)
    assert inbox.messages == []
    assert failed == [sent.delivery]


def test_a_token_sealed_under_another_key_is_refused(redis_url: str) -> None:
    app, _, queue = build(redis_url, free_port())
    other, _, other_queue = build(redis_url, free_port(), SECRET_KEY="another-secret-of-length")
    with other.app_context():
        token = other_queue._fernet().encrypt(b"{}").decode()
    with app.app_context(), pytest.raises(ValueError, match="did not seal"):
        queue._run(queue.task, token)


class Refusing(Inbox):
    """A mail server that refuses the recipient for good."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.tried = getattr(self, "tried", 0) + 1
        return "550 5.1.1 no such mailbox"


def test_a_recipient_refused_for_good_is_not_tried_again(redis_url: str) -> None:
    port = free_port()
    refusing = Refusing()
    controller = Controller(refusing, hostname="127.0.0.1", port=port)
    controller.start()
    app, emailcode, queue = build(redis_url, port)
    try:
        with app.test_request_context():
            sent = emailcode.send("sign_up", to="gone@example.com")
        with worker(queue.task.app), app.app_context():
            wait_until(lambda: emailcode.status(sent.delivery) == "failed")
            time.sleep(BACKOFF[0] + 1)  # a retry would have come by now
    finally:
        controller.stop()
    assert refusing.tried == 1
    assert refusing.messages == []
