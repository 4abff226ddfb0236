"""Choosing how mail leaves: straight from the request, or through the queue."""

from __future__ import annotations

from flask import Flask

from campus.extensions import db, services
from campus.mail.outbox import DirectOutbox
from campus.mail.queue import QueueOutbox
from campus.mail.queue import init_app as init_queue
from campus.mail.rendering import Renderer
from campus.mail.signing import DkimError, signer_from
from campus.mail.statuses import DeliveryLog, RedisDeliveryLog, SqlDeliveryLog, mail_deliveries
from campus.settings import ConfigError, uses_redis
from campus.support import redis_clients


def init_app(app: Flask) -> None:
    try:
        services(app).dkim = signer_from(app.config)
    except DkimError as exc:
        raise ConfigError(str(exc)) from exc
    services(app).renderer = Renderer(app)
    log: DeliveryLog
    retention = int(app.config["MAIL_DELIVERY_LOG_DAYS"]) * 86400
    if uses_redis(app.config):
        log = RedisDeliveryLog(redis_clients.shared(app), retention)
    else:
        with app.app_context():
            log = SqlDeliveryLog(db.engine, mail_deliveries, retention)
    services(app).deliveries = log
    if app.config["MAIL_DELIVERY"] == "queue":
        if not isinstance(log, RedisDeliveryLog):
            raise RuntimeError("the mail queue keeps its delivery log in Redis")
        init_queue(app)
        services(app).outbox = QueueOutbox(log)
    else:
        services(app).outbox = DirectOutbox(log)
