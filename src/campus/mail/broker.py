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

A second correction is for workers without kombu's event loop, which is how
Celery runs the gevent pool: there kombu hands back the messages of a killed
worker only when a poll finds nothing at all, and with a blocking ``BRPOP``
always outstanding that never happens, so they would wait in ``unacked`` for
ever. Here every drain, however it ends, restores what is overdue, at the
same interval the event loop would. And when every slot of such a worker is
taken, kombu sleeps a whole second before it looks again, though slots free
every few milliseconds; a drain there waits at most ``RECHECK`` seconds, so the
pool stays full.

A third: an acknowledgement that Redis never received (the connection was
lost under it) still frees its slot in the worker. kombu frees the slot only
after Redis confirms, so with every slot's acknowledgement lost the worker
never reads again, and never reads the error that would make it reconnect:
it polls for ever with no slot to take a message into. The message itself is
safe: it stays in Redis's ``unacked`` index and is restored after the
visibility timeout, and finds its delivery settled.

A fourth: a master that refuses writes (``NOREPLICAS`` under
``min-replicas-to-write``, ``READONLY`` or ``UNBLOCKED`` once demoted) answers
the worker's BRPOP with an error that Celery calls unrecoverable, and the
worker stops consuming for good. Its connections report a lost connection
instead (``redis_clients.PlainConnection`` and its kin), so the worker
reconnects, through the sentinels to the new master.

Under Redis Sentinel the same corrections ride on kombu's Sentinel transport.
Its broker URL names one sentinel only, and the whole list travels in the
transport options: kombu treats the URLs after a ``;`` as hosts to fail over
to, and switching to one re-creates the connection with kombu's own Sentinel
transport, which would shed every correction here at the first failover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import kombu
import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.sentinel import Sentinel

from campus.support import redis_clients

# The corrections below reach into kombu's internals, so they hold for the minor
# they are proven on (tests/campus/test_queue.py and its neighbours), which
# pyproject.toml pins; any other minor is refused at start rather than trusted.
PROVEN_KOMBU = (5, 7)


def check_kombu(version: str) -> None:
    """Refuse a kombu whose minor the corrections here have not been proven on."""
    found = tuple(int(part) for part in version.split(".")[:2])
    if found != PROVEN_KOMBU:
        proven = ".".join(map(str, PROVEN_KOMBU))
        raise RuntimeError(
            f"kombu {version} is installed, but campus.mail.broker is proven on kombu {proven}"
            f".x only: install 'kombu>={proven},<{PROVEN_KOMBU[0]}.{PROVEN_KOMBU[1] + 1}'"
        )


check_kombu(kombu.__version__)


class QoS(kombu_redis.QoS):
    """kombu's acknowledgements, tried again when Redis is slow to answer, and with a slot
    freed even when Redis did not hear of it."""

    def ack(self, delivery_tag: Any) -> None:
        # Tried again first: an acknowledgement is idempotent, and one given up on makes
        # the consumer reconnect, which hands out again every message in flight.
        ack = super().ack
        try:
            redis_clients.patiently(lambda: ack(delivery_tag))  # type: ignore[no-untyped-call,unused-ignore]
        except (RedisConnectionError, RedisTimeoutError):
            # Only the worker's own count: Redis still holds the message as unacknowledged.
            virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call,unused-ignore]
            raise

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call,unused-ignore]
        except (RedisConnectionError, RedisTimeoutError):
            virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call,unused-ignore]
            raise


class _ChannelCorrections:
    """What both channels add to kombu's: one client per pool, no detached reconnects, and
    slots freed whether or not an acknowledgement reached Redis."""

    QoS = QoS
    _client_for: tuple[Any, Any] | None = None
    pool: Any
    connection: Any

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """One client per connection pool, instead of a new one for every publish and ack.

        kombu builds a ``redis.Redis`` for each call, and building one copies its
        table of reply parsers: a large share of a publish. The client is only a
        handle on the pool, which hands each command its own connection, so one
        serves every caller; a new pool (after a reconnect) gets a new client.
        """
        if client is not None:
            yield client
            return
        pool = self.pool
        if self._client_for is None or self._client_for[0] is not pool:
            self._client_for = (pool, self._create_client())  # type: ignore[attr-defined]
        yield self._client_for[1]

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection was closed after a loss")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class Channel(_ChannelCorrections, kombu_redis.Channel):
    """kombu's channel, with the corrections described above."""

    connection_class = redis_clients.PlainConnection
    connection_class_ssl = redis_clients.PlainSSLConnection


class SentinelChannel(_ChannelCorrections, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel, with the same corrections; sentinels from the options."""

    connection_class = redis_clients.SentinelConnection
    connection_class_ssl = redis_clients.SentinelSSLConnection  # type: ignore[assignment]
    from_transport_options = (*kombu_redis.SentinelChannel.from_transport_options, "sentinels")  # type: ignore[assignment]
    sentinels: list[list[Any]] | None = None  # [host, port] pairs, as JSON carries them
    master_name: str | None = None
    sentinel_kwargs: dict[str, Any] | None = None

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        # kombu's own, but the sentinels come from ``sentinels`` rather than the URL's
        # alternates (see above): every connection asks them for the current master.
        if not self.sentinels or not self.master_name:
            raise ValueError("the 'sentinels' and 'master_name' transport options are required")
        params = self._connparams(asynchronous)
        params.pop("host", None)
        params.pop("port", None)
        manager = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
            [(str(host), int(port)) for host, port in self.sentinels],
            sentinel_kwargs=self.sentinel_kwargs,
            **params,
        )
        # Kept so that kombu closes the sentinel connections with the channel.
        if asynchronous:
            self._async_sentinel_manager = manager
        else:
            self._sentinel_manager = manager
        master = manager.master_for(self.master_name, redis.Redis)  # type: ignore[no-untyped-call,unused-ignore]
        return master.connection_pool


# Seconds a drain without kombu's event loop waits before Celery's loop looks again.
RECHECK = 0.02


class _TransportCorrections:
    """What both transports add to kombu's: overdue messages restored on every drain."""

    _restored_at = 0.0
    channels: Any
    client: Any
    cycle: Any

    def drain_events(self, connection: Any, timeout: Any = None) -> Any:
        try:
            full = any(not channel.qos.can_consume() for channel in self.channels)
            wait = min(timeout, RECHECK) if full and timeout is not None else timeout
            return super().drain_events(connection, timeout=wait)  # type: ignore[misc]
        finally:
            self._restore_when_due()

    def _restore_when_due(self) -> None:
        options = self.client.transport_options if self.client is not None else {}
        interval = float(
            options.get("unacked_restore_interval") or Channel.unacked_restore_interval
        )
        now = time.monotonic()
        if now - self._restored_at >= interval:
            self._restored_at = now
            self.cycle.maybe_restore_messages()


class Transport(_TransportCorrections, kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel


class SentinelTransport(_TransportCorrections, kombu_redis.SentinelTransport):  # type: ignore[misc]
    Channel = SentinelChannel


def broker_for(config: Mapping[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, Any] | None]:
    """Celery's broker URL, transport class, transport options and TLS options for the
    configured Redis: the same server, credentials and certificate checks as every other
    connection the app makes (``redis_clients``)."""
    # Passed on to redis-py as they are: kombu's own default for rediss:// checks nothing.
    tls = redis_clients.tls_options(config) if redis_clients.uses_tls(config) else None
    sentinels = redis_clients.sentinels(config)
    if not sentinels:
        return str(config["REDIS_URL"]), f"{__name__}:Transport", {}, tls
    host, port = sentinels[0]
    options = {
        "master_name": str(config["REDIS_SENTINEL_MASTER"]),
        "sentinels": [list(pair) for pair in sentinels],
        "sentinel_kwargs": redis_clients.sentinel_options(config),
    }
    # kombu takes the master's credentials from the URL, quoted there.
    user = quote(str(config.get("REDIS_MASTER_USERNAME") or ""), safe="")
    password = quote(str(config.get("REDIS_MASTER_PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if user or password else ""
    url = f"sentinel://{credentials}{host}:{port}/0"
    return url, f"{__name__}:SentinelTransport", options, tls
