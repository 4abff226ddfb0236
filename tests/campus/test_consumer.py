"""The mail stream's consumer on a real Redis, without the app: what it holds stays its own,
what it settles leaves, what it drops is taken over."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from campus.mail import stream
from campus.mail.consumer import Consumer, Settling
from campus.mail.stream import Entry

VISIBILITY = 2.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    found = redis.Redis.from_url(redis_url)
    yield found
    found.close()


def running(
    client: redis.Redis, handle: Callable[[Entry, Settling], None], name: str = "one"
) -> tuple[Consumer, threading.Thread]:
    consumer = Consumer(
        client, client, handle, name=name, concurrency=4, visibility=VISIBILITY
    )  # fmt: skip
    ready = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(ready.set,), daemon=True)
    thread.start()
    assert ready.wait(5)
    return consumer, thread


def longest_idle(client: redis.Redis, seconds: float) -> int:
    """The longest any pending entry looked untouched, sampled for ``seconds``."""
    longest = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for pending in client.xpending_range(stream.STREAM, stream.GROUP, "-", "+", 10):
            longest = max(longest, int(pending["time_since_delivered"]))
        time.sleep(0.05)
    return longest


def test_an_entry_in_hand_longer_than_the_visibility_timeout_stays_its_consumers(
    client: redis.Redis,
) -> None:
    release = threading.Event()
    handled: list[str] = []

    def slow(entry: Entry, settling: Settling) -> None:
        handled.append(entry.id)
        release.wait(10)
        settling.ack()

    consumer, thread = running(client, slow)
    try:
        stream.add(client, {"n": "1"})
        # Three visibility timeouts in hand: it never looks abandoned to another worker.
        assert longest_idle(client, 3 * VISIBILITY) < VISIBILITY * 1000 * 0.75
        assert stream.claim(client, "two", int(VISIBILITY * 1000), 10, "0-0")[1] == []
        release.set()
        assert wait(lambda: stream.depth(client) == 0)
        assert len(handled) == 1
    finally:
        release.set()
        consumer.stopping.set()
        thread.join(10)


def test_an_entry_left_unacknowledged_is_taken_over_after_the_visibility_timeout(
    client: redis.Redis,
) -> None:
    seen: list[tuple[str, float]] = []

    def leave_then_settle(entry: Entry, settling: Settling) -> None:
        seen.append((entry.id, time.monotonic()))
        if len(seen) > 1:
            settling.ack()  # the second time round; the first time it is left pending

    consumer, thread = running(client, leave_then_settle)
    try:
        stream.add(client, {"n": "1"})
        assert wait(lambda: len(seen) == 2, 10)
        assert wait(lambda: stream.depth(client) == 0)
    finally:
        consumer.stopping.set()
        thread.join(10)
    (first, at), (again, later) = seen
    assert first == again
    assert later - at >= VISIBILITY


def test_settling_writes_and_acknowledges_in_one_transaction(client: redis.Redis) -> None:
    def settle(entry: Entry, settling: Settling) -> None:
        settling.ack(lambda pipe: pipe.set("outcome", entry.fields["n"]))

    consumer, thread = running(client, settle)
    try:
        stream.add(client, {"n": "7"})
        assert wait(lambda: stream.depth(client) == 0)
    finally:
        consumer.stopping.set()
        thread.join(10)
    assert client.get("outcome") == b"7"
    assert client.xpending(stream.STREAM, stream.GROUP)["pending"] == 0


def test_the_group_lost_with_an_emptied_redis_is_made_again(client: redis.Redis) -> None:
    handled: list[dict[str, Any]] = []

    def settle(entry: Entry, settling: Settling) -> None:
        handled.append(entry.fields)
        settling.ack()

    consumer, thread = running(client, settle)
    try:
        client.flushdb()  # what a Redis restarted without its data looks like
        stream.add(client, {"n": "after"})
        assert wait(lambda: handled == [{"n": "after"}], 10)
    finally:
        consumer.stopping.set()
        thread.join(10)


def wait(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
