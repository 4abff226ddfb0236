"""Signs that queued mail is moving: each worker's last heartbeat, and the age of the oldest
message still waiting. ``/healthz`` reads both; the worker writes the first.

A worker that is alive but cannot reach Redis cannot beat either, and to the
site that is the same as no worker: nothing queued would leave.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass

import redis

from campus.mail import stream

log = logging.getLogger(__name__)

# Each worker's id and the time of its last beat, in one sorted set.
WORKERS_KEY = "campus-mail:workers"
# Seconds between beats: well inside the shortest silence that counts as lost.
INTERVAL = 5.0
# A worker not heard from for an hour is gone; its entry goes too.
FORGET_AFTER = 3600
# The message field that carries the time a message was queued.
QUEUED_AT = b"queued_at"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(client: redis.Redis, worker: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    pipe = client.pipeline()
    pipe.zadd(WORKERS_KEY, {worker: now})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - FORGET_AFTER)
    pipe.execute()


def start_beating(client: redis.Redis, worker: str, interval: float = INTERVAL) -> threading.Event:
    """Beat every ``interval`` seconds from a daemon thread (a greenlet under gevent)
    until the returned event is set."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                beat(client, worker)
            except redis.RedisError as exc:
                # Silence is the signal: /healthz reports the missing beats.
                log.warning("worker heartbeat not written: %s", type(exc).__name__)
            stop.wait(interval)

    threading.Thread(target=run, name="campus-mail-heartbeat", daemon=True).start()
    return stop


@dataclass(frozen=True)
class QueueHealth:
    """Seconds since the newest heartbeat of any worker, and the age of the oldest
    waiting message; None where there is none."""

    silent_for: float | None
    oldest: float | None
    waiting: int


def queue_health(client: redis.Redis, now: float | None = None) -> QueueHealth:
    now = time.time() if now is None else now
    pipe = client.pipeline()
    pipe.zrevrange(WORKERS_KEY, 0, 0, withscores=True)
    # The stream keeps its entries in the order they came: the first is the oldest.
    pipe.xrange(stream.STREAM, count=1)
    pipe.xlen(stream.STREAM)
    newest, first, waiting = pipe.execute()
    silent_for = now - float(newest[0][1]) if newest else None
    queued_at = _queued_at(first)
    return QueueHealth(
        silent_for=silent_for,
        oldest=None if queued_at is None else max(0.0, now - queued_at),
        waiting=int(waiting),
    )


def _queued_at(first: list[tuple[bytes, dict[bytes, bytes]]]) -> float | None:
    if not first:
        return None
    try:
        return float(first[0][1][QUEUED_AT])
    except (ValueError, KeyError, TypeError):
        return None  # not a message of ours


def problems(health: QueueHealth, *, silence: float, max_age: float) -> dict[str, str]:
    """What is wrong with the queue, by check, in words for an operator; empty when nothing."""
    found: dict[str, str] = {}
    if health.silent_for is None:
        found["worker"] = "error: no mail worker has reported"
    elif health.silent_for > silence:
        found["worker"] = f"error: no mail worker has reported for {health.silent_for:.0f} s"
    if health.oldest is not None and health.oldest > max_age:
        # /healthz answers anyone: how many wait, and since when, would tell anyone the
        # site's traffic. The operator reads both in /metrics, behind its token.
        found["queue"] = "error: queued mail has waited longer than MAIL_QUEUE_MAX_AGE"
    return found
