"""What became of each message: queued, sent or failed, readable by its requester only."""

from __future__ import annotations

import enum
import secrets
import time
from typing import Protocol

import redis
from sqlalchemy import BigInteger, Column, MetaData, String, Table, select, update
from sqlalchemy.engine import Engine

from campus.extensions import db

# How long a notice's delivery status is kept: notices carry no code to expire with.
NOTICE_TTL = 86400


class Status(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


def new_delivery_id() -> str:
    """Opaque and unguessable: the id alone reveals nothing and opens nothing."""
    return secrets.token_urlsafe(16)


class DeliveryLog(Protocol):
    def create(
        self, delivery: str, *, owner: str, status: Status, ttl: int, relay: str | None = None
    ) -> None: ...

    def set(self, delivery: str, status: Status, *, relay: str | None = None) -> None: ...

    def relay(self, delivery: str) -> str | None:
        """The relay that took the message, once one has."""

    def get(self, delivery: str) -> tuple[Status, str] | None:
        """The status and owner, or None when unknown or expired."""


def delivery_table(metadata: MetaData, name: str = "mail_deliveries") -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("owner", String(64), nullable=False),
        Column("status", String(8), nullable=False),
        Column("expires_at", BigInteger, nullable=False, index=True),
        Column("relay", String(16), nullable=True),
    )


mail_deliveries = delivery_table(db.metadata)


def status_for(log: DeliveryLog, delivery: str, *, owner: str) -> Status | None:
    """A delivery's status for its requester; None for anyone else, as for an unknown id."""
    found = log.get(delivery) if len(delivery) <= 64 else None
    if found is None or found[1] != owner:
        return None
    return found[0]


class SqlDeliveryLog:
    """For the embedded default: deliveries in the app's own database."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        self._t = table

    def create(
        self, delivery: str, *, owner: str, status: Status, ttl: int, relay: str | None = None
    ) -> None:
        now = int(time.time())
        with self._engine.begin() as conn:
            conn.execute(self._t.delete().where(self._t.c.expires_at < now))
            conn.execute(
                self._t.insert().values(
                    id=delivery, owner=owner, status=status.value, expires_at=now + ttl, relay=relay
                )
            )

    def set(self, delivery: str, status: Status, *, relay: str | None = None) -> None:
        values: dict[str, str] = {"status": status.value}
        if relay is not None:
            values["relay"] = relay
        with self._engine.begin() as conn:
            conn.execute(update(self._t).where(self._t.c.id == delivery).values(**values))

    def relay(self, delivery: str) -> str | None:
        with self._engine.connect() as conn:
            found = conn.execute(select(self._t.c.relay).where(self._t.c.id == delivery)).scalar()
        return None if found is None else str(found)

    def get(self, delivery: str) -> tuple[Status, str] | None:
        t = self._t
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.c.status, t.c.owner).where(
                    t.c.id == delivery, t.c.expires_at >= time.time()
                )
            ).first()
        return None if row is None else (Status(row.status), row.owner)


class RedisDeliveryLog:
    """With REDIS_URL: one small hash per delivery, expiring with the code."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def create(
        self, delivery: str, *, owner: str, status: Status, ttl: int, relay: str | None = None
    ) -> None:
        key = _key(delivery)
        pipe = self._client.pipeline()
        pipe.hset(key, mapping={"status": status.value, "owner": owner})
        if relay:
            pipe.hset(key, "relay", relay)
        pipe.expire(key, ttl)
        pipe.execute()

    def set(self, delivery: str, status: Status, *, relay: str | None = None) -> None:
        # Only an existing record changes: an expired one stays gone.
        self._client.eval(_SET_IF_EXISTS, 1, _key(delivery), status.value, relay or "")

    def relay(self, delivery: str) -> str | None:
        found = self._client.hget(_key(delivery), "relay")
        return None if found is None else found.decode() if isinstance(found, bytes) else str(found)

    def get(self, delivery: str) -> tuple[Status, str] | None:
        status, owner = (
            value.decode() if isinstance(value, bytes) else value
            for value in self._client.hmget(_key(delivery), ["status", "owner"])
        )
        if status is None or owner is None:
            return None
        return Status(status), str(owner)


_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'relay', ARGV[2]) end
end
"""


def _key(delivery: str) -> str:
    return f"delivery:{delivery}"
