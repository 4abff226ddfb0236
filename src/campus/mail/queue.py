"""Mail through a Celery queue on Redis: requests answer once a message is queued.

The queued payload is sealed (see ``sealing``), results are never stored, and
a message is acknowledged only after it was sent, failed for good or was
scheduled again, so a worker killed mid-send leaves it to be redelivered.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, NoReturn

from celery import Celery, Task, shared_task
from celery.exceptions import Reject
from flask import Flask, current_app
from kombu.entity import Exchange, Queue
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from campus.extensions import services
from campus.mail import broker
from campus.mail.heartbeat import QUEUED_AT, problems, queue_health
from campus.mail.messages import MailRequest, render
from campus.mail.outbox import MailUnavailable, delivery_log
from campus.mail.relays import Permanent, Temporary, relays
from campus.mail.sealing import SealError, seal, unseal
from campus.mail.sender import Sender, SendRate, sender
from campus.mail.signals import delivery_failed
from campus.mail.statuses import DeliveryLog, Status, new_delivery_id
from campus.support import redis_clients
from campus.support.addresses import mask
from campus.support.metrics import DELIVERIES, SMTP_SEND_SECONDS, TO_PROVIDER_SECONDS, word

log = logging.getLogger(__name__)

QUEUE = "campus-mail"


class QueueOutbox:
    """Seals the request and hands it to the broker; the worker does the rest."""

    def __init__(self, log: DeliveryLog) -> None:
        self.log = log

    def send(
        self, request: MailRequest, *, owner: str, ttl: int, delivery: str | None = None
    ) -> str:
        delivery = delivery or new_delivery_id()
        token = seal(request, secret_key=current_app.config["SECRET_KEY"])
        deadline = time.time() + ttl
        try:
            self.log.create(
                delivery,
                owner=owner,
                status=Status.QUEUED,
                ttl=ttl,
                kind=request.kind,
                recipient=mask(request.to),
            )
            deliver.apply_async(
                args=[delivery, token, deadline],
                retry=False,
                # Read by /healthz: how long the oldest message has waited.
                headers={QUEUED_AT: time.time()},
            )
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
        except (KombuError, OperationalError, RedisError, OSError) as exc:
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


def init_app(app: Flask) -> Celery:
    """A Celery app bound to this Flask app, its broker the configured Redis."""
    visibility = int(app.config["MAIL_QUEUE_VISIBILITY_TIMEOUT"])
    broker_url, transport, sentinel_options, tls = broker.broker_for(app.config)

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    # Published through the default exchange straight to the queue's list: a
    # Redis that restarts empty loses kombu's exchange bindings, and a message
    # routed through a named exchange before a worker re-declares them is
    # silently dropped. The default exchange needs no binding to route.
    mail_queue = Queue(QUEUE, exchange=Exchange(""), routing_key=QUEUE)  # type: ignore[no-untyped-call]
    celery.conf.update(
        task_queues=[mail_queue],
        task_default_queue=QUEUE,
        task_default_exchange="",
        task_default_routing_key=QUEUE,
        broker_url=broker_url,
        broker_transport=transport,
        broker_use_ssl=tls,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=1,
        broker_transport_options={
            "visibility_timeout": visibility,
            "socket_timeout": 1,
            "socket_connect_timeout": 1,
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            "health_check_interval": 2,
            # kombu's own default is 10 connections, and every slot of the worker
            # acknowledges on its own: past the pool, an acknowledgement fails, the
            # consumer reconnects, and messages in flight are handed out again.
            "max_connections": redis_clients.pool_size(app.config),
            **sentinel_options,
        },
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_publish_retry=False,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    celery.set_default()
    # Celery keeps a result backend per thread unless it says it is thread-safe, and
    # the gevent pool runs each message in a new greenlet: the task would build one
    # for every message. Results are never stored, so one disabled backend serves all.
    celery.tasks[deliver.name].backend = celery.backend
    app.extensions["celery"] = celery
    services(app).sender = Sender()
    services(app).send_rate = SendRate(
        app.config.get("MAIL_SEND_RATE"), *redis_clients.limits_storage(app.config)
    )
    return celery


def queue_checks() -> dict[str, str]:
    """/healthz's view of the queue: a worker heard from lately, and nothing waiting too long."""
    config = current_app.config
    try:
        health = queue_health(redis_clients.shared(current_app), QUEUE)
    except RedisError as exc:
        return {"worker": f"error: {type(exc).__name__}"}
    found = problems(
        health,
        silence=float(config["MAIL_WORKER_SILENCE"]),
        max_age=float(config["MAIL_QUEUE_MAX_AGE"]),
    )
    return {"worker": "ok", "queue": "ok"} | found


def queue_depth() -> int | None:
    """Messages waiting for a worker; None without the queue or when Redis does not answer."""
    if "celery" not in current_app.extensions:
        return None
    try:
        return int(redis_clients.shared(current_app).llen(QUEUE))
    except RedisError:
        return None


def backoff(retries: int) -> float:
    """Exponential, capped, with jitter so retries from many messages do not align."""
    base = float(current_app.config["MAIL_RETRY_BASE"])
    cap = float(current_app.config["MAIL_RETRY_MAX_DELAY"])
    delay: float = min(cap, base * 2**retries) * random.uniform(0.5, 1.0)  # noqa: S311  (jitter)
    return delay


# Retries are bounded by the code's expiry, not by a count.
@shared_task(bind=True, name="campus.deliver", ignore_result=True, max_retries=None)  # type: ignore[untyped-decorator]
def deliver(self: Task, delivery: str, token: str, deadline: float) -> None:
    """Send one queued message, retrying what is temporary until the code expires."""
    try:
        request = _ready_to_send(delivery, token, deadline)
    except RedisError as exc:
        # Nothing was sent and its status is unknown: hand the message back rather
        # than let it be acknowledged unsent (and if Redis cannot take it back, it
        # stays unacknowledged there and returns after the visibility timeout).
        log.warning("delivery %s: Redis did not answer (%s); handed back", delivery, exc)
        raise Reject(requeue=True) from exc
    if request is None:
        return
    # Each attempt goes to the next relay in turn: the primary first, the fallback after
    # a temporary failure, and the primary again after that.
    available = relays(current_app.config)
    attempt = int(self.request.retries)
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
            _retry(self, delivery, delay)
        log.error("delivery %s: %s; the code expires before another try", delivery, exc)
        DELIVERIES.labels("failed", _failure(exc)).inc()
        _settle_failed(delivery, request, str(exc), attempted=True)
        return
    except Permanent as exc:
        log.error("delivery %s: %s; not retried", delivery, exc)
        DELIVERIES.labels("failed", _failure(exc)).inc()
        _settle_failed(delivery, request, str(exc), attempted=True)
        return
    except Exception as exc:
        # A fault of ours (a template, a bug): say so to the person, keep the cause.
        log.exception("delivery %s: could not be rendered or sent", delivery)
        _settle_failed(delivery, request, type(exc).__name__)
        return
    _record(delivery, Status.SENT, relay=relay.name, attempted=True)
    DELIVERIES.labels("sent", "none").inc()
    queued_at = getattr(self.request, QUEUED_AT, None)
    if queued_at is not None:
        TO_PROVIDER_SECONDS.observe(max(0.0, time.time() - float(queued_at)))


def _ready_to_send(delivery: str, token: str, deadline: float) -> MailRequest | None:
    """The message to send now, or None once it is settled (by this call or before it)."""
    record = redis_clients.patiently(lambda: delivery_log().get(delivery))
    if record is None or record[0] is not Status.QUEUED:
        return None  # already settled by an earlier copy of this message, or long gone
    try:
        request = unseal(token, secret_key=current_app.config["SECRET_KEY"])
    except SealError:
        log.error("delivery %s: sealed payload rejected", delivery)
        _settle_failed(delivery, None, "sealed payload rejected")
        return None
    if time.time() >= deadline:
        # Waited in the queue past its code's expiry: a mail now would carry a dead code.
        _settle_failed(delivery, request, "expired in the queue")
        return None
    rate = services().send_rate
    if rate is None:
        raise RuntimeError("the mail queue is not set up on this app (queue.init_queue)")
    if not rate.wait_for_turn(deadline):
        _settle_failed(delivery, request, "send rate: expired waiting")
        return None
    return request


def _retry(task: Task, delivery: str, delay: float) -> NoReturn:
    """Schedule the next attempt; if the broker cannot take it, hand this copy back."""
    try:
        raise task.retry(countdown=delay) from None
    except Reject as refused:
        # Celery rejects the message for good when it cannot publish the retry: the
        # message would be gone, its status still ``queued``.
        cause = refused.reason
        log.warning("delivery %s: the retry could not be queued (%s); handed back", delivery, cause)
        raise Reject(cause, requeue=True) from None


def _record(
    delivery: str,
    status: Status,
    *,
    relay: str | None = None,
    failure: str | None = None,
    attempted: bool = False,
) -> None:
    """Write an outcome, patiently: a message whose outcome is lost is sent again.

    Past every try the outcome is logged and the message still acknowledged: what
    was sent stays sent once, and the status it shows is the only thing lost.
    """
    log_ = delivery_log()
    try:
        redis_clients.patiently(
            lambda: log_.set(delivery, status, relay=relay, failure=failure, attempted=attempted),
            tries=6,
        )
    except RedisError:
        log.error("delivery %s: %s, but Redis did not take the status", delivery, status.value)


def _failure(exc: BaseException) -> str:
    # The class of what went wrong underneath (a refused connection, a 4xx reply).
    return word(type(exc.__cause__ or exc).__name__)


def _settle_failed(
    delivery: str, request: MailRequest | None, failure: str, *, attempted: bool = False
) -> None:
    _record(delivery, Status.FAILED, failure=failure, attempted=attempted)
    if request is not None:
        # Nothing arrived, so nothing it carried may stay valid; a new code may go at once.
        delivery_failed.send(current_app.import_name, request=request)
