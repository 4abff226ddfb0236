"""Every Redis connection the app makes, described in one place.

With ``REDIS_URL`` that is one server. With ``REDIS_SENTINELS`` and
``REDIS_SENTINEL_MASTER`` it is whichever server the sentinels call master:
each new connection asks them first, so once they have promoted a replica the
next connection reaches it, and a connection to a demoted master is dropped.
Codes and statuses use ``client``; the budgets and the provider's send rate
use ``limits_storage``; the mail worker reads the queue's stream through a
client of its own, whose reads may block (``campus.mail.worker``).

Every connection has short timeouts: while the master is gone a request
fails fast and is answered 503, rather than waiting for the switch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
from flask import Flask
from redis.sentinel import Sentinel, SentinelManagedConnection, SentinelManagedSSLConnection

from campus.extensions import services

TIMEOUTS: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}

T = TypeVar("T")
log = logging.getLogger(__name__)

# redis-py's pool raises at once when every connection it may open is in use, and a
# mail worker's every slot may be reading or writing a status at the same moment. So a
# pool holds a connection for each slot (``MAIL_WORKER_CONCURRENCY``) and these to spare,
# for the consumer's own reads, the heartbeat and the overdue-message scan. Connections
# are opened only as they are needed: a web process with four threads opens a few.
SPARE_CONNECTIONS = 16


def pool_size(config: Mapping[str, Any]) -> int:
    """The connections one pool may open: one per worker slot, and some to spare."""
    return int(config.get("MAIL_WORKER_CONCURRENCY") or 0) + SPARE_CONNECTIONS


def refuses_writes(error: BaseException) -> bool:
    """A master that may not write now: too few replicas in reach, or demoted to a replica."""
    text = str(error)
    return isinstance(error, redis.ResponseError) and (
        isinstance(error, redis.ReadOnlyError) or text.startswith(("NOREPLICAS", "UNBLOCKED"))
    )


class _DropsUnwritableMasters:
    """A connection that treats a master refusing writes as a lost connection.

    Under Sentinel the answer is elsewhere: the refusing master is being replaced,
    and the next connection asks the sentinels for the new one. The mail worker
    meets a lost connection by reading again after a pause, and the web tier by
    answering 503 until the switch; ``NOREPLICAS`` to the worker's read would be
    neither.
    """

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)  # type: ignore[misc]
        except redis.ResponseError as exc:
            if not refuses_writes(exc):
                raise
            self.disconnect()  # type: ignore[attr-defined]
            raise redis.ConnectionError(f"the master refuses writes: {exc}") from exc


class SentinelConnection(_DropsUnwritableMasters, SentinelManagedConnection):
    pass


class SentinelSSLConnection(_DropsUnwritableMasters, SentinelManagedSSLConnection):
    pass


class PlainConnection(_DropsUnwritableMasters, redis.Connection):
    pass


class PlainSSLConnection(_DropsUnwritableMasters, redis.SSLConnection):
    pass


def sentinels(config: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    found: tuple[tuple[str, int], ...] = config.get("REDIS_SENTINELS") or ()
    return found


def tls_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """redis-py's options for TLS: the certificate and its host name always checked."""
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if config.get("REDIS_CA_FILE"):
        options["ssl_ca_certs"] = str(config["REDIS_CA_FILE"])
    return options


def uses_tls(config: Mapping[str, Any]) -> bool:
    if sentinels(config):
        return bool(config.get("REDIS_SENTINEL_TLS"))
    return str(config.get("REDIS_URL") or "").startswith("rediss://")


def server_options(config: Mapping[str, Any], read_timeout: float | None = None) -> dict[str, Any]:
    """What every connection to the server (or Sentinel's master) is opened with.

    A ``REDIS_URL`` carries its own password and user; under Sentinel they are
    ``REDIS_MASTER_PASSWORD`` and ``REDIS_MASTER_USERNAME``. ``read_timeout``
    replaces the short one for a client whose reads block on purpose.
    """
    options: dict[str, Any] = {**TIMEOUTS, "max_connections": pool_size(config)}
    if read_timeout is not None:
        options["socket_timeout"] = read_timeout
    tls = uses_tls(config)
    if tls:
        options |= tls_options(config)
    if sentinels(config):
        options["connection_class"] = SentinelSSLConnection if tls else SentinelConnection
        for name, option in (
            ("REDIS_MASTER_USERNAME", "username"),
            ("REDIS_MASTER_PASSWORD", "password"),
        ):
            if config.get(name):
                options[option] = str(config[name])
    return options


def sentinel_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """What each connection to a sentinel is opened with: its own password, user and TLS.

    Every key is present, None where unset, so that no library fills one in from the
    master's (``limits`` would pass the master's password to the sentinels).
    """
    options: dict[str, Any] = {
        **TIMEOUTS,
        "username": config.get("REDIS_SENTINEL_USERNAME") or None,
        "password": config.get("REDIS_SENTINEL_PASSWORD") or None,
    }
    if uses_tls(config):
        options |= {"ssl": True, **tls_options(config)}
    return options


def client(config: Mapping[str, Any], read_timeout: float | None = None) -> redis.Redis:
    """A client for the configured Redis: the one server, or Sentinel's current master."""
    if sentinels(config):
        manager = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
            list(sentinels(config)), sentinel_kwargs=sentinel_options(config)
        )
        name = str(config["REDIS_SENTINEL_MASTER"])
        master: redis.Redis = manager.master_for(  # type: ignore[no-untyped-call,unused-ignore]
            name, **server_options(config, read_timeout)
        )
        return master
    return redis.Redis.from_url(str(config["REDIS_URL"]), **server_options(config, read_timeout))


def shared(app: Flask) -> redis.Redis:
    """The app's one client, for the codes, statuses and heartbeats: one pool per process."""
    own = services(app)
    if own.redis is None:
        own.redis = client(app.config)
    return own.redis


def limits_storage(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``limits`` storage URI and options for the configured Redis.

    Under Sentinel, limits are read from the master too: a replica's copy lags,
    and a count read there could let a few more through than the limit allows.
    """
    if sentinels(config):
        where = ",".join(f"{host}:{port}" for host, port in sentinels(config))
        uri = f"redis+sentinel://{where}/{config['REDIS_SENTINEL_MASTER']}"
        options = {
            **server_options(config),
            "sentinel_kwargs": sentinel_options(config),
            "use_replicas": False,
        }
        return uri, options
    return str(config["REDIS_URL"]), server_options(config)


def patiently(call: Callable[[], T], *, tries: int = 4, pause: float = 0.25) -> T:
    """``call()``, tried again after a lost connection or a timeout, pausing longer each time.

    For idempotent work only (a status read, a status write, an acknowledgement). A
    starved process can miss, within its 1 s timeout, a reply that Redis sent after
    doing the work; giving up there is how a worker used to lose a message or send it
    twice. The last error is raised when every try failed.
    """
    for attempt in range(tries):
        try:
            return call()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if attempt == tries - 1:
                raise
            delay = pause * 2**attempt
            # Said each time: a pool that runs dry or a Redis that lags shows in the log.
            log.warning("Redis: %s: %s; trying again in %.2f s", type(exc).__name__, exc, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


# Written before each WAIT below: the wait is for this connection's last write, and
# the replication stream keeps its order, so it covers every write answered before.
_MARK = "campus:replicated"


def replicated(client: redis.Redis, *, replicas: int, timeout_ms: int) -> bool:
    """Whether the replicas, up to ``replicas`` of those the master has, hold every write
    the master answered before this call (the message added to the stream among them)."""
    pipe = client.pipeline(transaction=False)
    pipe.set(_MARK, "1", px=60_000)
    pipe.wait(replicas, timeout_ms)
    _, confirmed = pipe.execute()
    if int(confirmed) >= replicas:
        return True
    # Fewer: a replica lags, or there is none to ask (a master just promoted).
    info: dict[str, Any] = client.info("replication")
    return int(confirmed) >= min(replicas, int(info.get("connected_slaves", 0)))
