"""What is wrong with the way the app reaches Redis, named so an operator can fix it.

``diagnose`` reads one failure (an exception and what caused it) as a ``Kind``;
``probe`` connects the way the app does, to each sentinel and then to the
master (or to the one server), and says where the first problem is. /healthz
names the kind, and ``flask --app campus redis check`` prints its remedy.
"""

from __future__ import annotations

import enum
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.sentinel import MasterNotFoundError

from campus.support import redis_clients

# OpenSSL's verify results for a certificate issued to another name or address.
_NAME_MISMATCH = {62, 64}


class Kind(enum.StrEnum):
    """Each value is also what /healthz says after ``error:``."""

    PASSWORD = "password refused"  # noqa: S105  (a reason, not a password)
    UNTRUSTED = "certificate not trusted"
    WRONG_NAME = "certificate names another host"
    EXPECTS_TLS = "server expects TLS"
    NOT_TLS = "server does not speak TLS"
    REFUSED = "connection refused"
    TIMEOUT = "no answer"
    NO_MASTER = "no master by that name"
    NOT_WRITABLE = "master refuses writes"
    OTHER = "unavailable"


@dataclass(frozen=True)
class Problem:
    kind: Kind
    role: str  # "server", "master" or "sentinel"
    host: str
    port: int
    error: str


def diagnose(exc: BaseException, *, tls: bool) -> Kind:
    """The kind of one failure, from the exception and the chain of its causes."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for error in seen:
        if isinstance(error, redis.AuthenticationError):
            return Kind.PASSWORD
        if isinstance(error, ssl.SSLCertVerificationError):
            return Kind.WRONG_NAME if error.verify_code in _NAME_MISMATCH else Kind.UNTRUSTED
        if isinstance(error, MasterNotFoundError):
            return Kind.NO_MASTER
        if redis_clients.refuses_writes(error):
            return Kind.NOT_WRITABLE
    for error in seen:
        if isinstance(error, ConnectionRefusedError):
            return Kind.REFUSED
        if isinstance(error, ssl.SSLError) or (tls and isinstance(error, TimeoutError)):
            # A plain server never answers the TLS handshake, or answers it with text.
            return Kind.NOT_TLS
        # A TLS port drops a client that starts in plain text.
        dropped = isinstance(error, ConnectionResetError) or "closed by server" in str(error)
        if not tls and dropped:
            return Kind.EXPECTS_TLS
    if any(isinstance(error, TimeoutError | redis.TimeoutError) for error in seen):
        return Kind.TIMEOUT
    return Kind.OTHER


def probe(config: Mapping[str, Any]) -> Problem | None:
    """Connect as the app does and write once; the first problem found, or None."""
    tls = redis_clients.uses_tls(config)
    sentinels = redis_clients.sentinels(config)
    if not sentinels:
        url = urlsplit(str(config["REDIS_URL"]))
        where = (url.hostname or "127.0.0.1", url.port or 6379)
        return _try(lambda: _write_once(redis_clients.client(config)), "server", where, tls)
    options = redis_clients.sentinel_options(config)
    name = str(config["REDIS_SENTINEL_MASTER"])
    for host, port in sentinels:
        sentinel = redis.Redis(host=host, port=port, **options)
        found = _try(
            lambda s=sentinel: s.sentinel_get_master_addr_by_name(name),
            "sentinel",
            (host, port),
            tls,
        )
        if found is not None:
            return found
    master = redis_clients.client(config)
    address = _master_address(sentinels[0], options, name)
    return _try(lambda: _write_once(master), "master", address, tls)


def _write_once(client: redis.Redis) -> None:
    # A write, not a PING: a demoted master or one short of replicas still answers PING.
    client.set("campus:redis-check", "1", ex=60)


def _master_address(
    sentinel: tuple[str, int], options: dict[str, Any], name: str
) -> tuple[str, int]:
    try:
        found = redis.Redis(host=sentinel[0], port=sentinel[1], **options)
        address: Any = found.sentinel_get_master_addr_by_name(name)
        return str(address[0]), int(address[1])
    except (redis.RedisError, TypeError, ValueError):
        return sentinel


def _try(call: Any, role: str, where: tuple[str, int], tls: bool) -> Problem | None:
    try:
        answer = call()
    except (redis.RedisError, OSError) as exc:
        return Problem(diagnose(exc, tls=tls), role, where[0], where[1], str(exc))
    if role == "sentinel" and answer is None:
        return Problem(Kind.NO_MASTER, role, where[0], where[1], "unknown master name")
    return None


def reason(exc: BaseException, config: Mapping[str, Any]) -> Kind:
    """Why the app could not use Redis just now, for /healthz.

    redis-py answers every failure to reach a sentinel (a refused password
    among them) with "no master found", so under Sentinel that answer is looked
    into: a probe says which sentinel, and why.
    """
    kind = diagnose(exc, tls=redis_clients.uses_tls(config))
    if kind is Kind.NO_MASTER:
        found = probe(config)
        return found.kind if found is not None else kind
    return kind
