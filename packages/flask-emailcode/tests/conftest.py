from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from typing import Any

import pytest

from _helpers import Clock
from _services import free_port, missing
from _services import redis_url as configured_redis_url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database for one test."""
    import redis

    url = configured_redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        missing(f"no Redis at {url}: {exc}")
    yield url
    client.flushdb()
    client.close()


class Inbox:
    """What a real SMTP server (aiosmtpd) received: one ``email.message`` per mail."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    """A plain SMTP server on a free loopback port, and what it received."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()
