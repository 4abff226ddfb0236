"""Every Redis connection the app makes, described in one place.

With ``REDIS_URL`` that is one server. With ``REDIS_SENTINELS`` and
``REDIS_SENTINEL_MASTER`` it is whichever server the sentinels call master:
each new connection asks them first, so once they have promoted a replica the
next connection reaches it, and a connection to a demoted master is dropped.
Codes and statuses use ``client``; Flask-Limiter and the provider's send rate
use ``limits_storage``; the mail queue builds kombu's settings from the same
addresses (``campus.mail.queue``).

Every connection has short timeouts: while the master is gone a request
fails fast and is answered 503, rather than waiting for the switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask
from redis.sentinel import Sentinel

TIMEOUTS: dict[str, Any] = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0}


def sentinels(config: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    found: tuple[tuple[str, int], ...] = config.get("REDIS_SENTINELS") or ()
    return found


def client(config: Mapping[str, Any]) -> redis.Redis:
    """A client for the configured Redis: the one server, or Sentinel's current master."""
    if sentinels(config):
        manager = Sentinel(  # type: ignore[no-untyped-call]
            list(sentinels(config)), sentinel_kwargs=dict(TIMEOUTS), **TIMEOUTS
        )
        name = str(config["REDIS_SENTINEL_MASTER"])
        master: redis.Redis = manager.master_for(name)  # type: ignore[no-untyped-call]
        return master
    return redis.Redis.from_url(str(config["REDIS_URL"]), **TIMEOUTS)


def shared(app: Flask) -> redis.Redis:
    """The app's one client, for the codes, statuses and heartbeats: one pool per process."""
    if "campus.redis" not in app.extensions:
        app.extensions["campus.redis"] = client(app.config)
    found: redis.Redis = app.extensions["campus.redis"]
    return found


def limits_storage(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``limits`` storage URI and options for the configured Redis.

    Under Sentinel, limits are read from the master too: a replica's copy lags,
    and a count read there could let a few more through than the limit allows.
    """
    if sentinels(config):
        where = ",".join(f"{host}:{port}" for host, port in sentinels(config))
        uri = f"redis+sentinel://{where}/{config['REDIS_SENTINEL_MASTER']}"
        return uri, {**TIMEOUTS, "sentinel_kwargs": dict(TIMEOUTS), "use_replicas": False}
    return str(config["REDIS_URL"]), dict(TIMEOUTS)
