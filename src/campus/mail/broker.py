"""kombu's Redis transport, made to survive losing Redis with messages in hand.

When the connection drops while the worker holds unacknowledged messages,
Celery *collects* the connection, which detaches its channels from their
settings. Two things then still reach for Redis through a detached channel:
closing it, which hands the messages back, and acknowledging a message whose
send finishes after the loss. Both build a new connection from settings that
are gone, and the AttributeError that raises is not a connection error, so
Celery calls it unrecoverable and the worker stops consuming for good while
its process stays up (kombu 5.7, Celery 5.7).

Here a detached channel raises a connection error instead, which kombu and
Celery already handle: the worker logs it and reconnects. Nothing is lost by
it. Each unacknowledged message is still in Redis's ``unacked`` index and is
restored once the visibility timeout passes; a message that was sent already
finds its delivery settled and is not sent again.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection was closed after a loss")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[no-untyped-call]
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


# Celery's ``broker_transport`` setting names this class.
TRANSPORT = f"{__name__}:Transport"
