"""What became of each message: queued, sent or failed.

The requester reads one status by its id; administrators read the recent ones
(``/cms/deliveries``). A record holds the masked recipient, the kind of mail,
the attempts, the last failure's class and reply code, the relay and the times:
nothing a code could be recovered from. Records are kept for ``retention``
seconds (``MAIL_DELIVERY_LOG_DAYS``), or for as long as the code they carry is
valid when that is longer.
"""

from __future__ import annotations

import enum
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

from campus.extensions import db


class Status(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


def new_delivery_id() -> str:
    """Opaque and unguessable: the id alone reveals nothing and opens nothing."""
    return secrets.token_urlsafe(16)


# What new_delivery_id() makes, and nothing else: a name of another shape could be a
# key of the log's own (the Redis log keeps its index beside the records).
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def is_delivery_id(text: str) -> bool:
    return _DELIVERY_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class Entry:
    """One delivery as administrators see it."""

    id: str
    status: Status
    kind: str
    recipient: str  # masked
    attempts: int
    failure: str | None
    relay: str | None
    created: float
    updated: float


class DeliveryLog(Protocol):
    retention: int

    def create(
        self,
        delivery: str,
        *,
        owner: str,
        status: Status,
        ttl: int,
        kind: str = "",
        recipient: str = "",
        relay: str | None = None,
        attempts: int = 0,
        failure: str | None = None,
    ) -> None: ...

    def set(
        self,
        delivery: str,
        status: Status,
        *,
        relay: str | None = None,
        failure: str | None = None,
        attempted: bool = False,
    ) -> None:
        """Record an outcome; ``attempted`` counts one more try at the provider."""

    def relay(self, delivery: str) -> str | None:
        """The relay that took the message, once one has."""

    def get(self, delivery: str) -> tuple[Status, str] | None:
        """The status and owner, or None when unknown or expired."""

    def recent(self, status: Status | None, offset: int, limit: int) -> list[Entry]:
        """Newest first, ``limit`` of them after skipping ``offset``."""


def delivery_table(metadata: MetaData, name: str = "mail_deliveries") -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("owner", String(64), nullable=False),
        Column("status", String(8), nullable=False),
        Column("expires_at", BigInteger, nullable=False, index=True),
        Column("relay", String(16), nullable=True),
        Column("kind", String(40), nullable=False, server_default=""),
        Column("recipient", String(254), nullable=False, server_default=""),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("failure", String(80), nullable=True),
        # Milliseconds since the epoch: deliveries a second apart still sort in order.
        Column("created_at", BigInteger, nullable=False, server_default="0", index=True),
        Column("updated_at", BigInteger, nullable=False, server_default="0"),
    )


mail_deliveries = delivery_table(db.metadata)


def status_for(log: DeliveryLog, delivery: str, *, owner: str) -> Status | None:
    """A delivery's status for its requester; None for anyone else, as for an unknown id."""
    found = log.get(delivery) if is_delivery_id(delivery) else None
    if found is None or found[1] != owner:
        return None
    return found[0]


class SqlDeliveryLog:
    """For the embedded default: deliveries in the app's own database."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        retention: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._t = table
        self.retention = retention
        self._clock = clock

    def create(
        self,
        delivery: str,
        *,
        owner: str,
        status: Status,
        ttl: int,
        kind: str = "",
        recipient: str = "",
        relay: str | None = None,
        attempts: int = 0,
        failure: str | None = None,
    ) -> None:
        moment = self._clock()
        now, now_ms = int(moment), int(moment * 1000)
        with self._engine.begin() as conn:
            conn.execute(self._t.delete().where(self._t.c.expires_at < now))
            conn.execute(
                self._t.insert().values(
                    id=delivery,
                    owner=owner,
                    status=status.value,
                    expires_at=now + max(ttl, self.retention),
                    relay=relay,
                    kind=kind,
                    recipient=recipient,
                    attempts=attempts,
                    failure=failure,
                    created_at=now_ms,
                    updated_at=now_ms,
                )
            )

    def set(
        self,
        delivery: str,
        status: Status,
        *,
        relay: str | None = None,
        failure: str | None = None,
        attempted: bool = False,
    ) -> None:
        t = self._t
        values: dict[str, Any] = {"status": status.value, "updated_at": int(self._clock() * 1000)}
        if relay is not None:
            values["relay"] = relay
        if failure is not None:
            values["failure"] = failure
        if attempted:
            values["attempts"] = t.c.attempts + 1
        with self._engine.begin() as conn:
            conn.execute(update(t).where(t.c.id == delivery).values(**values))

    def relay(self, delivery: str) -> str | None:
        with self._engine.connect() as conn:
            found = conn.execute(select(self._t.c.relay).where(self._t.c.id == delivery)).scalar()
        return None if found is None else str(found)

    def get(self, delivery: str) -> tuple[Status, str] | None:
        t = self._t
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.c.status, t.c.owner).where(
                    t.c.id == delivery, t.c.expires_at >= self._clock()
                )
            ).first()
        return None if row is None else (Status(row.status), row.owner)

    def recent(self, status: Status | None, offset: int, limit: int) -> list[Entry]:
        t = self._t
        query = select(t).where(t.c.expires_at >= self._clock())
        if status is not None:
            query = query.where(t.c.status == status.value)
        query = query.order_by(t.c.created_at.desc(), t.c.id).offset(offset).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Entry(
                id=row.id,
                status=Status(row.status),
                kind=row.kind,
                recipient=row.recipient,
                attempts=row.attempts,
                failure=row.failure,
                relay=row.relay,
                created=row.created_at / 1000,
                updated=row.updated_at / 1000,
            )
            for row in rows
        ]


class RedisDeliveryLog:
    """With Redis: one small hash per delivery, and a sorted set of them by time."""

    # Beside the records, under their prefix (an id is 22 characters, never "recent").
    INDEX = "delivery:recent"

    def __init__(
        self, client: redis.Redis, retention: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self.retention = retention
        self._clock = clock
        self._create_queued = client.register_script(_CREATE_QUEUED)

    def create(
        self,
        delivery: str,
        *,
        owner: str,
        status: Status,
        ttl: int,
        kind: str = "",
        recipient: str = "",
        relay: str | None = None,
        attempts: int = 0,
        failure: str | None = None,
    ) -> None:
        key, now = _key(delivery), self._clock()
        pipe = self._client.pipeline()
        pipe.hset(
            key,
            mapping={
                "status": status.value,
                "owner": owner,
                "kind": kind,
                "to": recipient,
                "attempts": attempts,
                "created": now,
                "updated": now,
            },
        )
        if relay:
            pipe.hset(key, "relay", relay)
        if failure:
            pipe.hset(key, "failure", failure)
        pipe.expire(key, max(ttl, self.retention))
        pipe.zadd(self.INDEX, {delivery: now})
        pipe.zremrangebyscore(self.INDEX, "-inf", now - self.retention)
        pipe.execute()

    def create_queued(
        self,
        delivery: str,
        *,
        owner: str,
        ttl: int,
        kind: str,
        recipient: str,
        stream: str,
        entry: Mapping[str, str],
    ) -> str:
        """A ``queued`` record, and ``entry`` added to ``stream``, in one step; the entry's id.

        One script rather than a transaction and an ``XADD``: no message is queued
        without the record the worker and the page read, and a code request makes one
        round trip for both (a pipeline of six commands cost the web process about
        twice the CPU of one script call)."""
        now = self._clock()
        fields = [part for pair in entry.items() for part in pair]
        found = self._create_queued(
            keys=[_key(delivery), self.INDEX, stream],
            args=[Status.QUEUED.value, owner, kind, recipient, repr(now),
                  max(ttl, self.retention), delivery, repr(now - self.retention), *fields],
        )  # fmt: skip
        return _text(found)

    def set(
        self,
        delivery: str,
        status: Status,
        *,
        relay: str | None = None,
        failure: str | None = None,
        attempted: bool = False,
        on: Any = None,
    ) -> None:
        """``on``: a pipeline to write it in, with what else it carries (else at once)."""
        # Only an existing record changes: an expired one stays gone.
        (self._client if on is None else on).eval(
            _SET_IF_EXISTS,
            1,
            _key(delivery),
            status.value,
            relay or "",
            failure or "",
            "1" if attempted else "0",
            repr(self._clock()),
        )

    def relay(self, delivery: str) -> str | None:
        found = self._client.hget(_key(delivery), "relay")
        return None if found is None else _text(found)

    def get(self, delivery: str) -> tuple[Status, str] | None:
        status, owner = (
            _text(value) if value is not None else None
            for value in self._client.hmget(_key(delivery), ["status", "owner"])
        )
        if status is None or owner is None:
            return None
        return Status(status), owner

    def recent(self, status: Status | None, offset: int, limit: int) -> list[Entry]:
        found: list[Entry] = []
        skipped = 0
        for entry in self._newest_first():
            if status is not None and entry.status is not status:
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append(entry)
            if len(found) == limit:
                break
        return found

    def _newest_first(self, batch: int = 200) -> Iterator[Entry]:
        start = 0
        while True:
            ids = self._client.zrevrange(self.INDEX, start, start + batch - 1)
            if not ids:
                return
            pipe = self._client.pipeline()
            for delivery in ids:
                pipe.hgetall(_key(_text(delivery)))
            for delivery, fields in zip(ids, pipe.execute(), strict=True):
                if fields:  # gone with its code's expiry
                    yield _entry(_text(delivery), {_text(k): _text(v) for k, v in fields.items()})
            start += batch


def _entry(delivery: str, fields: dict[str, str]) -> Entry:
    return Entry(
        id=delivery,
        status=Status(fields["status"]),
        kind=fields.get("kind", ""),
        recipient=fields.get("to", ""),
        attempts=int(fields.get("attempts", 0)),
        failure=fields.get("failure") or None,
        relay=fields.get("relay") or None,
        created=float(fields.get("created", 0)),
        updated=float(fields.get("updated", 0)),
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated', ARGV[5])
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'relay', ARGV[2]) end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'failure', ARGV[3]) end
  if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
end
"""


# KEYS: the record, the index, the stream. ARGV: status, owner, kind, recipient, now,
# the record's lifetime, the delivery id, the index's cut-off, then the entry's fields.
# The entry goes first: a script is not rolled back, and the one call here that can
# fail (the stream's key holding something else) then leaves nothing written.
_CREATE_QUEUED = """
local id = redis.call('XADD', KEYS[3], '*', unpack(ARGV, 9))
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'owner', ARGV[2], 'kind', ARGV[3],
           'to', ARGV[4], 'attempts', '0', 'created', ARGV[5], 'updated', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[8])
return id
"""


def _key(delivery: str) -> str:
    return f"delivery:{delivery}"
