"""A storage for the ``limits`` library in an SQL database.

Without Redis, budgets would count in each process's memory, so four gunicorn
workers would each grant the whole budget. Here every hit is a row in a table
(``emailcode_limit_hits`` by default) that every process and host shares.

Each window is a log of hits (the moving-window strategy the budgets use).
Taking an entry is one atomic step: the count and the insert happen in one
statement on SQLite, whose writers are serialised, and under a per-key
advisory lock on PostgreSQL, where two transactions could otherwise both see
room for one more.

It is ``Clocked``: its moving-window calls take the time they are asked at
(``now=``), so the budgets count on the extension's clock.
"""

from __future__ import annotations

import time

from limits.storage import MovingWindowSupport, Storage
from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from flask_emailcode.clocked import Clocked

SCHEME = "emailcode+sql"

# Expired rows of keys no request touches again are swept now and then.
_SWEEP_EVERY = 500


def hit_table(metadata: MetaData, name: str = "emailcode_limit_hits") -> Table:
    """One row per counted request: its key, when, how many it counts, until when."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("key", String(255), nullable=False),
        Column("at", Float, nullable=False),
        Column("expires_at", Float, nullable=False, index=True),
        Column("amount", Integer, nullable=False),
        Index(f"ix_{name}_key_at", "key", "at"),
    )


class SqlStorage(Storage, MovingWindowSupport, Clocked):
    """Rate-limit windows in a table of the app's database (``emailcode+sql``)."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012  (declared so by the base class)

    def __init__(self, engine: Engine, table: Table, *, wrap_exceptions: bool = False) -> None:
        super().__init__(f"{SCHEME}://", wrap_exceptions=wrap_exceptions)
        self._engine = engine
        self._t = table
        self._writes = 0

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    # The moving window: what the app's limits use.

    def acquire_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1, *, now: float | None = None
    ) -> bool:
        if amount > limit:
            return False
        now = time.time() if now is None else now
        t = self._t
        used = (
            select(func.coalesce(func.sum(t.c.amount), 0))
            .where(t.c.key == key, t.c.at > now - expiry)
            .scalar_subquery()
        )
        room = select(
            literal(key, t.c.key.type),
            literal(now, t.c.at.type),
            literal(now + expiry, t.c.expires_at.type),
            literal(amount, t.c.amount.type),
        ).where(used + amount <= limit)
        with self._engine.begin() as conn:
            self._lock(conn, key)
            conn.execute(t.delete().where(t.c.key == key, t.c.expires_at <= now))
            # RETURNING, not rowcount: drivers report -1 for INSERT ... SELECT.
            inserted = conn.execute(
                t.insert()
                .from_select(["key", "at", "expires_at", "amount"], room)
                .returning(t.c.id)
            ).first()
            self._sweep(conn, now)
        return inserted is not None

    def get_moving_window(
        self, key: str, limit: int, expiry: int, *, now: float | None = None
    ) -> tuple[float, int]:
        now = time.time() if now is None else now
        t = self._t
        with self._engine.connect() as conn:
            oldest, count = conn.execute(
                select(func.min(t.c.at), func.coalesce(func.sum(t.c.amount), 0)).where(
                    t.c.key == key, t.c.at > now - expiry
                )
            ).one()
        return (float(oldest) if oldest is not None else now), int(count)

    # A fixed-window counter on the same rows, for the strategies that use one.

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        t = self._t
        with self._engine.begin() as conn:
            self._lock(conn, key)
            conn.execute(t.delete().where(t.c.key == key, t.c.expires_at <= now))
            ends = conn.execute(select(func.min(t.c.expires_at)).where(t.c.key == key)).scalar()
            conn.execute(
                t.insert().values(key=key, at=now, expires_at=ends or now + expiry, amount=amount)
            )
            total = conn.execute(select(func.sum(t.c.amount)).where(t.c.key == key)).scalar()
        return int(total or 0)

    def get(self, key: str) -> int:
        t = self._t
        with self._engine.connect() as conn:
            total = conn.execute(
                select(func.sum(t.c.amount)).where(t.c.key == key, t.c.expires_at > time.time())
            ).scalar()
        return int(total or 0)

    def get_expiry(self, key: str) -> float:
        t = self._t
        with self._engine.connect() as conn:
            ends = conn.execute(
                select(func.min(t.c.expires_at)).where(t.c.key == key, t.c.expires_at > time.time())
            ).scalar()
        return float(ends) if ends is not None else time.time()

    def check(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self._engine.begin() as conn:
            return int(conn.execute(self._t.delete()).rowcount)

    def clear(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(self._t.delete().where(self._t.c.key == key))

    def _lock(self, conn: Connection, key: str) -> None:
        """Serialise writers of one key for the rest of the transaction."""
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
            )
        # SQLite serialises every writer already; the one INSERT ... SELECT that
        # counts and adds takes the write lock before it reads.

    def _sweep(self, conn: Connection, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            conn.execute(self._t.delete().where(self._t.c.expires_at <= now))
