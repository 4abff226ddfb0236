"""Handing messages to the mail provider and telling callers what became of them."""

from __future__ import annotations

import smtplib
import ssl
import time
from typing import Protocol

from flask import current_app

from campus.extensions import services
from campus.mail.messages import MailRequest, render
from campus.mail.relays import Permanent, classify, relays
from campus.mail.statuses import DeliveryLog, Status, new_delivery_id
from campus.support.addresses import mask
from campus.support.metrics import DELIVERIES, SMTP_SEND_SECONDS, TO_PROVIDER_SECONDS, word


class MailUnavailable(RuntimeError):
    """The provider or the queue refused or could not be reached; nothing was sent."""


class Outbox(Protocol):
    def send(
        self, request: MailRequest, *, owner: str, ttl: int, delivery: str | None = None
    ) -> str:
        """Deliver or enqueue ``request``; return its delivery id, readable by ``owner``."""


class DirectOutbox:
    """Sends within the request: the embedded default, no worker to run."""

    def __init__(self, log: DeliveryLog) -> None:
        self.log = log

    def send(
        self, request: MailRequest, *, owner: str, ttl: int, delivery: str | None = None
    ) -> str:
        started = time.monotonic()
        message = render(request)
        taken_by = None
        failure: BaseException | None = None
        tries = 0
        for relay in relays(current_app.config):
            tries += 1
            try:
                with SMTP_SEND_SECONDS.labels(relay.name).time(), relay.connection() as connection:
                    message.connection = connection
                    message.send()
            except (smtplib.SMTPException, OSError) as exc:
                # OSError covers refused connections, timeouts and TLS failures.
                failure = exc
                if classify(exc) is Permanent:
                    break  # the next relay would refuse it the same way
                DELIVERIES.labels("retried", word(type(exc).__name__)).inc()
                continue
            taken_by = relay.name
            break
        delivery = delivery or new_delivery_id()
        status, why = Status.SENT, None
        if taken_by is None:
            DELIVERIES.labels("failed", word(type(failure).__name__)).inc()
            # The reply text may echo the recipient, so only its class and code are kept.
            status, why = Status.FAILED, describe(failure) if failure else "no relay"
        self.log.create(
            delivery,
            owner=owner,
            status=status,
            ttl=ttl,
            kind=request.kind,
            recipient=mask(request.to),
            relay=taken_by,
            attempts=tries,
            failure=why,
        )
        if why is not None:
            raise MailUnavailable(why) from failure
        DELIVERIES.labels("sent", "none").inc()
        TO_PROVIDER_SECONDS.observe(time.monotonic() - started)
        return delivery


def describe(exc: BaseException) -> str:
    """Why a send failed, without the server's text: ``SMTPRecipientsRefused 550``."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"{type(exc).__name__} {' '.join(str(code) for code in codes)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{type(exc).__name__} {exc.verify_message}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__} errno {exc.errno}"
    return type(exc).__name__


def outbox() -> Outbox:
    box = services().outbox
    if box is None:
        raise RuntimeError("mail is not set up on this app (mail.setup.init_app)")
    return box


def delivery_log() -> DeliveryLog:
    log = services().deliveries
    if log is None:
        raise RuntimeError("mail is not set up on this app (mail.setup.init_app)")
    return log
