"""``EMAILCODE_STORAGE_URI``: one URI names where codes, budgets and delivery statuses live.

- ``memory://``: this process's memory (debug and testing only);
- ``sqlalchemy://``: the app's Flask-SQLAlchemy ``db`` (its tables join ``db.metadata``,
  so the app's migrations create them);
- any SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg://...``): an engine of
  the extension's own, whose tables it creates;
- ``redis://``, ``rediss://``, ``redis+sentinel://host:port,host:port/master``.

A scheme of one's own is added with ``register_scheme``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from limits.storage import Storage, storage_from_string

from flask_emailcode.clocked import ClockedMemoryStorage
from flask_emailcode.core.errors import StoreUnavailable
from flask_emailcode.core.stores.base import CodeStore
from flask_emailcode.core.stores.memory import MemoryCodeStore


class StatusBook(Protocol):
    """Delivery statuses: ``queued``, ``sent``, ``failed`` and what a sender reports."""

    def put(self, delivery: str, *, status: str, owner: str, ttl: int, now: float) -> None:
        """Keep ``status`` until ``ttl`` seconds after ``now`` (the extension's clock)."""

    def get(self, delivery: str, *, now: float) -> tuple[str, str] | None:
        """``(status, owner)``, or None when unknown or expired at ``now``."""


@dataclass
class Backend:
    """What one storage URI gives: the code store, the budgets' storage, the statuses."""

    codes: CodeStore
    limits: Storage
    # None where the app keeps delivery statuses itself (``status`` then refuses).
    statuses: StatusBook | None
    # Whether the storage is shared by every process (memory is not).
    shared: bool = True


Factory = Callable[[str, Mapping[str, Any], str, Any], Backend]
_SCHEMES: dict[str, Factory] = {}


def register_scheme(scheme: str, factory: Factory) -> None:
    """Let ``EMAILCODE_STORAGE_URI`` name a backend of one's own:
    ``factory(uri, options, key_prefix, app) -> Backend``."""
    _SCHEMES[scheme] = factory


def backend_for(uri: str, *, options: Mapping[str, Any], prefix: str, app: Any) -> Backend:
    scheme = urlsplit(uri).scheme
    if scheme in _SCHEMES:
        return _SCHEMES[scheme](uri, options, prefix, app)
    if scheme.startswith(("redis", "rediss")):
        return _redis(uri, options, prefix)
    if scheme == "sqlalchemy":
        return _flask_sqlalchemy(app, options)
    if "://" in uri:
        return _sql(uri, options)
    raise ValueError(f"EMAILCODE_STORAGE_URI: {uri!r} is not a storage URI")


class _MemoryBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, str, float]] = {}

    def put(self, delivery: str, *, status: str, owner: str, ttl: int, now: float) -> None:
        with self._lock:
            self._entries[delivery] = (status, owner, now + ttl)

    def get(self, delivery: str, *, now: float) -> tuple[str, str] | None:
        with self._lock:
            found = self._entries.get(delivery)
        if found is None or found[2] <= now:
            return None
        return found[0], found[1]


def memory_backend() -> Backend:
    return Backend(MemoryCodeStore(), ClockedMemoryStorage(), _MemoryBook(), shared=False)


def _redis(uri: str, options: Mapping[str, Any], prefix: str) -> Backend:
    import redis
    from redis.sentinel import Sentinel

    client_options = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, **options}
    parts = urlsplit(uri)
    if parts.scheme == "redis+sentinel":
        hosts = [
            (host, int(port or 26379))
            for host, _, port in (h.rpartition(":") for h in parts.netloc.split("@")[-1].split(","))
        ]
        master = parts.path.strip("/").split("/")[0]
        # As in ``limits``: a password in the URL is the sentinels' and the master's.
        secret = {"password": parts.password} if parts.password else {}
        sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]
            hosts, sentinel_kwargs={**client_options, **secret}, **client_options
        )
        # Typed from redis 8.2 on, untyped before: either way, the one call checks.
        client = (
            sentinel.master_for(master, password=parts.password)  # type: ignore[no-untyped-call,unused-ignore]
            if parts.password
            else sentinel.master_for(master)  # type: ignore[no-untyped-call,unused-ignore]
        )
    else:
        client = redis.Redis.from_url(uri, **client_options)
    limits = storage_from_string(uri, **options)
    if not isinstance(limits, Storage):  # pragma: no cover - only async URIs build these
        raise TypeError("not a synchronous limits storage")
    return redis_backend(client, limits=limits, prefix=prefix)


def redis_backend(
    client: Any,
    *,
    limits: Storage,
    prefix: str = "emailcode",
    replicas: int = 0,
    wait_ms: int = 250,
    statuses: bool = True,
) -> Backend:
    """The Redis backend on a client an app built itself (its own pool, Sentinel, TLS):
    for ``EmailCode(storage=...)``. With ``replicas``, a new code and a spend stand only
    once that many replicas hold them (``WAIT`` for ``wait_ms``), else StoreUnavailable."""
    from flask_emailcode.core.stores.redis import RedisCodeStore

    codes = RedisCodeStore(client, prefix=prefix, replicas=replicas, wait_ms=wait_ms)
    return Backend(codes, limits, _RedisBook(client, prefix) if statuses else None)


class _RedisBook:
    def __init__(self, client: Any, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    # Redis expires a status on its own clock: ``now`` only says when the ttl starts.
    def put(self, delivery: str, *, status: str, owner: str, ttl: int, now: float) -> None:
        self._call(lambda: self._client.set(self._key(delivery), f"{status}|{owner}", ex=ttl))

    def get(self, delivery: str, *, now: float) -> tuple[str, str] | None:
        found = self._call(lambda: self._client.get(self._key(delivery)))
        if found is None:
            return None
        status, _, owner = found.decode().partition("|")
        return status, owner

    def _key(self, delivery: str) -> str:
        return f"{self._prefix}:delivery:{delivery}"

    def _call(self, operation: Callable[[], Any]) -> Any:
        import redis

        try:
            return operation()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"redis: {exc}") from exc


def _flask_sqlalchemy(app: Any, options: Mapping[str, Any]) -> Backend:
    db = app.extensions.get("sqlalchemy")
    if db is None:
        raise ValueError(
            "EMAILCODE_STORAGE_URI is sqlalchemy:// but Flask-SQLAlchemy is not initialised "
            "on this app: call db.init_app(app) before emailcode.init_app(app)"
        )
    with app.app_context():
        engine = db.engine
    return sql_backend(engine, db.metadata, create=False)


def _sql(uri: str, options: Mapping[str, Any]) -> Backend:
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(uri, **options)
    return sql_backend(engine, MetaData(), create=True)


KINDS = ("codes", "failures", "limit_hits", "deliveries")


def sql_tables(
    metadata: Any,
    *,
    prefix: str = "emailcode",
    names: Mapping[str, str] | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> dict[str, Any]:
    """The extension's tables declared on ``metadata`` (each once; one already declared is
    reused), so an app's migrations see them: ``codes``, ``failures``, ``limit_hits`` and
    ``deliveries``, named ``<prefix>_<kind>`` unless ``names`` says otherwise."""
    from flask_emailcode.core.stores.sql import code_table, failure_table
    from flask_emailcode.limit_storage import hit_table
    from flask_emailcode.sql_statuses import status_table

    makers = {
        "codes": code_table,
        "failures": failure_table,
        "limit_hits": hit_table,
        "deliveries": status_table,
    }
    named = {kind: f"{prefix}_{kind}" for kind in KINDS}
    named.update(names or {})
    tables = {}
    for kind in kinds:
        name = named[kind]
        found = metadata.tables.get(name)
        tables[kind] = found if found is not None else makers[kind](metadata, name)
    return tables


def sql_backend(
    engine: Any,
    metadata: Any,
    *,
    create: bool,
    prefix: str = "emailcode",
    names: Mapping[str, str] | None = None,
    statuses: bool = True,
) -> Backend:
    """The SQL backend on ``engine``, for ``EmailCode(storage=...)`` too; its tables are
    declared on ``metadata`` (once), and created when ``create`` is true. ``names`` may
    rename any of ``codes``, ``failures``, ``limit_hits`` and ``deliveries`` (an app whose
    migrations already made them under other names)."""
    from flask_emailcode.core.stores.sql import SqlCodeStore
    from flask_emailcode.limit_storage import SqlStorage
    from flask_emailcode.sql_statuses import SqlBook

    kinds = KINDS if statuses else KINDS[:3]
    tables = sql_tables(metadata, prefix=prefix, names=names, kinds=kinds)
    if create:
        for each in tables.values():
            each.create(engine, checkfirst=True)
    codes, failures, hits = tables["codes"], tables["failures"], tables["limit_hits"]
    book = SqlBook(engine, tables["deliveries"]) if statuses else None
    return Backend(SqlCodeStore(engine, codes, failures), SqlStorage(engine, hits), book)
