"""The mail worker process: Celery consuming the mail queue.

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
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from flask import current_app

from campus.mail import heartbeat
from campus.support import redis_clients
from campus_worker.options import POOLS

# Said by both ways of starting a worker when there is no Redis to take mail from.
NO_REDIS = (
    "the worker needs Redis (REDIS_URL or REDIS_SENTINELS): without it mail is sent in-process"
)


def options(pool: str, concurrency: int) -> list[str]:
    if pool not in POOLS:
        raise ValueError(f"unknown worker pool {pool!r}: one of {', '.join(POOLS)}")
    if concurrency < 1:
        raise ValueError("the worker's concurrency must be at least 1")
    return [
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        # One kind of worker, no cluster chatter: gossip, mingle and heartbeats only cost.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


# Celery logs two lines for every task, received and succeeded: at hundreds of
# messages a second that is a large share of the worker's time and says nothing
# the delivery statuses do not. Failures and retries are still logged.
QUIET = ("celery.worker.strategy", "celery.app.trace")


def run(celery: Celery, pool: str, concurrency: int) -> None:
    """Run the worker in the current app's context until it is stopped."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    config = current_app.config
    # The app's one Redis client, with its 1 s timeouts.
    client = redis_clients.shared(current_app)
    # A few beats within the silence /healthz tolerates, so one lost beat is no alarm.
    interval = min(heartbeat.INTERVAL, float(config["MAIL_WORKER_SILENCE"]) / 3)
    beating: list[Any] = []

    # Beats start once the worker consumes, not when the process starts.
    def ready(**_: Any) -> None:
        beating.append(heartbeat.start_beating(client, heartbeat.worker_id(), interval))

    worker_ready.connect(ready, weak=False)
    try:
        celery.worker_main(["worker", *options(pool, concurrency)])
    finally:
        worker_ready.disconnect(ready)
        for stop in beating:
            stop.set()
