"""Delivery statuses in an SQL table: one row per delivery, until it expires."""

from __future__ import annotations

from sqlalchemy import Column, Float, MetaData, String, Table, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from flask_emailcode.core.errors import StoreUnavailable


def status_table(metadata: MetaData, name: str = "emailcode_deliveries") -> Table:
    return Table(
        name,
        metadata,
        Column("delivery", String(64), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("owner", String(64), nullable=False),
        Column("expires_at", Float, nullable=False, index=True),
    )


class SqlBook:
    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        self._t = table

    def put(self, delivery: str, *, status: str, owner: str, ttl: int, now: float) -> None:
        t = self._t
        values = {"status": status, "owner": owner, "expires_at": now + ttl}
        try:
            with self._engine.begin() as conn:
                conn.execute(t.delete().where(t.c.expires_at <= now))
                updated = conn.execute(
                    t.update().where(t.c.delivery == delivery).values(**values)
                ).rowcount
                if not updated:
                    conn.execute(t.insert().values(delivery=delivery, **values))
        except IntegrityError:
            # Another writer inserted it first: this report is the later one.
            with self._engine.begin() as conn:
                conn.execute(t.update().where(t.c.delivery == delivery).values(**values))
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(f"database error: {type(exc.orig).__name__}") from exc

    def get(self, delivery: str, *, now: float) -> tuple[str, str] | None:
        t = self._t
        try:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(t.c.status, t.c.owner).where(
                        t.c.delivery == delivery, t.c.expires_at > now
                    )
                ).first()
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(f"database error: {type(exc.orig).__name__}") from exc
        return None if row is None else (str(row[0]), str(row[1]))
