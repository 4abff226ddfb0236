"""The mail worker process: one consumer of the mail stream, many messages in flight.

Sending a message is almost all waiting on the provider (a relay commonly takes
a fifth of a second to accept one), so one process keeps many messages in
flight: with the gevent pool each of ``MAIL_WORKER_CONCURRENCY`` greenlets holds
its own kept-open SMTP session. gevent must patch the standard library before
anything imports ``socket``, ``ssl`` or ``threading``; importing ``campus``
already has, so the gevent pool runs from ``python -m campus_worker``, which
patches first, and ``flask --app campus worker`` hands over to it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask

from campus.mail import heartbeat
from campus.mail.consumer import BLOCK_MS, Consumer, Settling
from campus.mail.queue import handle
from campus.mail.stream import Entry
from campus.support import redis_clients

log = logging.getLogger(__name__)

# Said by both ways of starting a worker when there is no Redis to take mail from.
NO_REDIS = (
    "the worker needs Redis (REDIS_URL or REDIS_SENTINELS): without it mail is sent in-process"
)


def consumer(app: Flask) -> Consumer:
    """The app's consumer: its one Redis client for statuses and acknowledgements, and a
    reader whose timeout outlasts a blocking read."""
    config = app.config
    concurrency = int(config["MAIL_WORKER_CONCURRENCY"])
    if concurrency < 1:
        raise ValueError("the worker's concurrency must be at least 1")

    # Each message is settled in the app's context, as a request would be.
    def settle(entry: Entry, settling: Settling) -> None:
        with app.app_context():
            handle(entry, settling)

    return Consumer(
        redis_clients.shared(app),
        redis_clients.client(config, read_timeout=BLOCK_MS / 1000 + 5),
        settle,
        name=heartbeat.worker_id(),
        concurrency=concurrency,
        visibility=float(config["MAIL_QUEUE_VISIBILITY_TIMEOUT"]),
    )


def run(app: Flask, pool: str, stopping: threading.Event | None = None) -> None:
    """Consume until ``stopping`` is set (by SIGTERM or SIGINT, from ``campus_worker``)."""
    config = app.config
    worker = consumer(app)
    if stopping is not None:
        worker.stopping = stopping
    client = redis_clients.shared(app)
    # A few beats within the silence /healthz tolerates, so one lost beat is no alarm.
    interval = min(heartbeat.INTERVAL, float(config["MAIL_WORKER_SILENCE"]) / 3)
    beating: list[Any] = []

    # Beats start once the worker consumes, not when the process starts.
    def ready() -> None:
        beating.append(heartbeat.start_beating(client, worker.name, interval))
        concurrency = config["MAIL_WORKER_CONCURRENCY"]
        log.info("mail worker %s (%s pool, %s slots) ready.", worker.name, pool, concurrency)

    try:
        worker.run(ready)
    finally:
        for stop in beating:
            stop.set()
