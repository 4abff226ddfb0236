"""Mail through a Redis stream: requests answer once a message is queued.

The queued payload is sealed (see ``sealing``), and a message is acknowledged
only after it was sent or failed for good, so a worker killed mid-send leaves
it to be taken over by the next (see ``stream``). A temporary failure is tried
again in the same slot, after a pause, while the message stays unacknowledged:
the next relay at once, then the first again with backoff, until the code
expires.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from redis.exceptions import RedisError

from campus.extensions import services
from campus.mail import stream
from campus.mail.consumer import Settling
from campus.mail.heartbeat import problems, queue_health
from campus.mail.messages import MailRequest, render
from campus.mail.outbox import MailUnavailable, delivery_log
from campus.mail.relays import Permanent, Temporary, relays
from campus.mail.sealing import SealError, seal, unseal
from campus.mail.sender import Sender, SendRate, sender
from campus.mail.signals import delivery_failed
from campus.mail.statuses import RedisDeliveryLog, Status, new_delivery_id
from campus.mail.stream import Entry
from campus.support import redis_clients
from campus.support.addresses import mask
from campus.support.metrics import DELIVERIES, SMTP_SEND_SECONDS, TO_PROVIDER_SECONDS, word

log = logging.getLogger(__name__)


class QueueOutbox:
    """Seals the request and adds it to the stream; the worker does the rest."""

    def __init__(self, log: RedisDeliveryLog) -> None:
        self.log = log

    def send(
        self, request: MailRequest, *, owner: str, ttl: int, delivery: str | None = None
    ) -> str:
        delivery = delivery or new_delivery_id()
        token = seal(request, secret_key=current_app.config["SECRET_KEY"])
        deadline = time.time() + ttl
        try:
            self.log.create_queued(
                delivery,
                owner=owner,
                ttl=ttl,
                kind=request.kind,
                recipient=mask(request.to),
                stream=stream.STREAM,
                # queued_at is read by /healthz: how long the oldest message has waited.
                entry={"delivery": delivery, "token": token, "deadline": repr(deadline),
                       "queued_at": repr(time.time())},
            )  # fmt: skip
            replicas = int(current_app.config["REDIS_WAIT_REPLICAS"])
            # With replicas, a message is queued once they hold it: a master lost just
            # after would otherwise take it along, and the code it carries would never
            # arrive although the request was answered 200.
            if replicas and not redis_clients.replicated(
                redis_clients.shared(current_app),
                replicas=replicas,
                timeout_ms=int(current_app.config["REDIS_WAIT_MS"]),
            ):
                self._unqueue(delivery, "no replica confirmed the message")
                raise MailUnavailable("queue unavailable: no replica confirmed the message")
        except (RedisError, OSError) as exc:
            self._unqueue(delivery, type(exc).__name__)
            raise MailUnavailable(f"queue unavailable: {type(exc).__name__}") from exc
        return delivery

    def _unqueue(self, delivery: str, reason: str) -> None:
        """The request is answered 503 and its code withdrawn, yet the message may be in
        the queue all the same (written before the failure): settled as failed, the
        worker skips it, so no mail carries a code that no longer works."""
        try:
            self.log.set(delivery, Status.FAILED, failure=f"not queued: {reason}")
        except (RedisError, OSError) as exc:
            log.warning("delivery %s: could not be settled as not queued (%s)", delivery, exc)


def init_app(app: Flask) -> None:
    """What the worker sends with: kept-open SMTP sessions and the provider's send rate."""
    services(app).sender = Sender()
    services(app).send_rate = SendRate(
        app.config.get("MAIL_SEND_RATE"), *redis_clients.limits_storage(app.config)
    )


def queue_checks() -> dict[str, str]:
    """/healthz's view of the queue: a worker heard from lately, and nothing waiting too long."""
    config = current_app.config
    try:
        health = queue_health(redis_clients.shared(current_app))
    except RedisError as exc:
        return {"worker": f"error: {type(exc).__name__}"}
    found = problems(
        health,
        silence=float(config["MAIL_WORKER_SILENCE"]),
        max_age=float(config["MAIL_QUEUE_MAX_AGE"]),
    )
    return {"worker": "ok", "queue": "ok"} | found


def queue_depth() -> int | None:
    """Messages not yet settled (waiting, or in a worker's hands); None without the queue
    or when Redis does not answer."""
    if current_app.config["MAIL_DELIVERY"] != "queue":
        return None
    try:
        return stream.depth(redis_clients.shared(current_app))
    except RedisError:
        return None


def backoff(retries: int) -> float:
    """Exponential, capped, with jitter so retries from many messages do not align."""
    base = float(current_app.config["MAIL_RETRY_BASE"])
    cap = float(current_app.config["MAIL_RETRY_MAX_DELAY"])
    delay: float = min(cap, base * 2**retries) * random.uniform(0.5, 1.0)  # noqa: S311  (jitter)
    return delay


@dataclass(frozen=True)
class Outcome:
    """How a message was settled, written in the same step as its acknowledgement."""

    status: Status
    relay: str | None = None
    failure: str | None = None
    attempted: bool = False
    # What a failed message carried, whose code is withdrawn once the failure is written.
    withdraw: MailRequest | None = None


def handle(entry: Entry, settling: Settling) -> None:
    """Settle one queued message, trying again what is temporary until its code expires.

    Once it is settled (sent, failed for good, or settled before) its status and its
    acknowledgement are written in one step: a status that reads ``sent`` is never
    left with its message still pending. When Redis does not answer, or the worker
    stops, it is left unacknowledged, for the next worker to take over.
    """
    try:
        delivery, token = entry.fields["delivery"], entry.fields["token"]
        deadline = float(entry.fields["deadline"])
        queued_at = float(entry.fields["queued_at"])
    except (KeyError, ValueError):
        log.error("mail stream entry %s: not a message of ours; dropped", entry.id)
        settling.ack()
        return
    attempt = 0
    while True:
        try:
            outcome = deliver(delivery, token, deadline, attempt, queued_at)
        except RedisError as exc:
            # Nothing was sent and its status is unknown: leave it for a later try
            # rather than acknowledge it unsent.
            log.warning("delivery %s: Redis did not answer (%s); left for later", delivery, exc)
            return
        if not isinstance(outcome, float):
            break
        if settling.stopping.wait(outcome):
            return  # the worker is stopping: the next one takes it over
        attempt += 1
    if outcome is None:
        settling.ack()  # settled before: an earlier copy of this message, or long gone
        return
    _settle(delivery, outcome, settling)


def _settle(delivery: str, outcome: Outcome, settling: Settling) -> None:
    log_ = delivery_log()
    if not isinstance(log_, RedisDeliveryLog):
        raise RuntimeError("the mail queue keeps its delivery log in Redis")

    def write(pipe: Any) -> None:
        log_.set(
            delivery,
            outcome.status,
            relay=outcome.relay,
            failure=outcome.failure,
            attempted=outcome.attempted,
            on=pipe,
        )

    if not settling.ack(write):
        log.error("delivery %s: %s, but Redis did not take it", delivery, outcome.status.value)
    if outcome.withdraw is not None:
        # Nothing arrived, so nothing it carried may stay valid; a new code may go at once.
        delivery_failed.send(current_app.import_name, request=outcome.withdraw)


def deliver(
    delivery: str, token: str, deadline: float, attempt: int, queued_at: float
) -> float | Outcome | None:
    """One attempt: how the message was settled, None if it was before, or the pause
    before the next attempt."""
    ready = _ready_to_send(delivery, token, deadline)
    if not isinstance(ready, MailRequest):
        return ready
    request = ready
    # Each attempt goes to the next relay in turn: the primary first, the fallback after
    # a temporary failure, and the primary again after that.
    available = relays(current_app.config)
    relay = available[attempt % len(available)]
    try:
        message = render(request)
        with SMTP_SEND_SECONDS.labels(relay.name).time():
            sender().send(message, relay)
    except Temporary as exc:
        # The next relay in the list is tried at once; back at the first, after a pause.
        onward = (attempt + 1) % len(available) != 0
        delay = 0.0 if onward else backoff(attempt)
        if time.time() + delay < deadline:
            name = relay.name
            log.warning("delivery %s: %s (%s relay); retrying in %.1fs", delivery, exc, name, delay)
            DELIVERIES.labels("retried", _failure(exc)).inc()
            _record(delivery, Status.QUEUED, failure=str(exc), attempted=True)
            return delay
        log.error("delivery %s: %s; the code expires before another try", delivery, exc)
        DELIVERIES.labels("failed", _failure(exc)).inc()
        return _failed(request, str(exc), attempted=True)
    except Permanent as exc:
        log.error("delivery %s: %s; not retried", delivery, exc)
        DELIVERIES.labels("failed", _failure(exc)).inc()
        return _failed(request, str(exc), attempted=True)
    except Exception as exc:
        # A fault of ours (a template, a bug): say so to the person, keep the cause.
        log.exception("delivery %s: could not be rendered or sent", delivery)
        return _failed(request, type(exc).__name__)
    DELIVERIES.labels("sent", "none").inc()
    TO_PROVIDER_SECONDS.observe(max(0.0, time.time() - queued_at))
    return Outcome(Status.SENT, relay=relay.name, attempted=True)


def _ready_to_send(delivery: str, token: str, deadline: float) -> MailRequest | Outcome | None:
    """The message to send now; else how it is settled now, or None if it was before."""
    record = redis_clients.patiently(lambda: delivery_log().get(delivery))
    if record is None or record[0] is not Status.QUEUED:
        return None  # already settled by an earlier copy of this message, or long gone
    try:
        request = unseal(token, secret_key=current_app.config["SECRET_KEY"])
    except SealError:
        log.error("delivery %s: sealed payload rejected", delivery)
        return _failed(None, "sealed payload rejected")
    if time.time() >= deadline:
        # Waited in the queue past its code's expiry: a mail now would carry a dead code.
        return _failed(request, "expired in the queue")
    rate = services().send_rate
    if rate is None:
        raise RuntimeError("the mail queue is not set up on this app (queue.init_queue)")
    if not rate.wait_for_turn(deadline):
        return _failed(request, "send rate: expired waiting")
    return request


def _record(delivery: str, status: Status, *, failure: str, attempted: bool) -> None:
    """Write how an attempt went, while the message waits for the next (best effort:
    the outcome that settles it is written with its acknowledgement)."""
    log_ = delivery_log()
    try:
        redis_clients.patiently(
            lambda: log_.set(delivery, status, failure=failure, attempted=attempted)
        )
    except RedisError:
        log.error("delivery %s: %s, but Redis did not take the status", delivery, status.value)


def _failure(exc: BaseException) -> str:
    # The class of what went wrong underneath (a refused connection, a 4xx reply).
    return word(type(exc.__cause__ or exc).__name__)


def _failed(request: MailRequest | None, failure: str, *, attempted: bool = False) -> Outcome:
    return Outcome(Status.FAILED, failure=failure, attempted=attempted, withdraw=request)
