"""The SQL store: slots as rows, made atomic by conditional UPDATEs.

Each operation reads the slot, decides with the shared rules in ``base``, and
writes only if the row is still what it read (optimistic concurrency). A writer
that loses the race re-reads and decides again, so twenty threads spending one
right code see exactly one success whatever the database's isolation level.

On SQLite the driver runs a lone SELECT outside any transaction, so reading the
slot holds no lock; the guarded UPDATE then takes the write lock on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from verification.errors import StoreUnavailable
from verification.outcomes import Outcome
from verification.stores.base import (
    LIVE,
    SPENT,
    VOID,
    Record,
    SaveResult,
    Slot,
    current,
    decide_save,
    decide_spend,
)

T = TypeVar("T")

# Contention, not failure: a lost race costs one more round trip. Past this many
# rounds something is wrong with the database rather than busy.
_MAX_ROUNDS = 50


def code_table(metadata: MetaData, name: str = "verification_codes") -> Table:
    """The slot table, declared on the caller's metadata so its migrations see it."""
    return Table(
        name,
        metadata,
        Column("slot", String(64), primary_key=True),
        Column("account", String(24), nullable=False, index=True),
        Column("purpose", String(32), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("state", String(8), nullable=False),
        Column("failures", Integer, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        Column("resend_at", BigInteger, nullable=False),
        Column("retain_until", BigInteger, nullable=False),
    )


class SqlCodeStore:
    """Slots in a table of the application's own database."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        self._t = table

    def save(
        self, slot: Slot, *, digest: str, now: int, ttl: int, cooldown: int, max_attempts: int
    ) -> SaveResult:
        def attempt(conn: Connection) -> SaveResult | None:
            row = self._read(conn, slot)
            record = current(row, now)
            decision = decide_save(record, now=now, max_attempts=max_attempts)
            if decision.refusal is not None:
                return decision
            values = {
                "digest": digest,
                "state": LIVE,
                "failures": record.failures if record else 0,
                "expires_at": now + ttl,
                "resend_at": now + cooldown,
                "retain_until": max(record.retain_until if record else 0, now + ttl),
            }
            if row is None:
                conn.execute(
                    self._t.insert().values(
                        slot=slot.id, account=slot.account, purpose=slot.purpose, **values
                    )
                )
                return SaveResult()
            return SaveResult() if self._update_if_unchanged(conn, row, slot, values) else None

        return self._run(attempt)

    def spend(
        self, slot: Slot, *, digest: str, now: int, ttl: int, max_attempts: int
    ) -> tuple[Outcome, int]:
        def attempt(conn: Connection) -> tuple[Outcome, int] | None:
            row = self._read(conn, slot)
            record = current(row, now)
            outcome = decide_spend(record, digest=digest, now=now, max_attempts=max_attempts)
            if record is None or outcome in (Outcome.EXPIRED, Outcome.USED_UP):
                return outcome, 0
            if outcome is Outcome.OK:
                values: dict[str, Any] = {"state": SPENT, "digest": "", "failures": 0}
                left = 0
            else:
                failures = record.failures + 1
                values = {
                    "failures": failures,
                    "retain_until": max(record.retain_until, now + ttl),
                }
                left = max_attempts - failures
            if self._update_if_unchanged(conn, record, slot, values):
                return outcome, left
            return None

        return self._run(attempt)

    def withdraw(self, slot: Slot, *, digest: str, now: int) -> bool:
        t = self._t
        statement = (
            update(t)
            .where(t.c.slot == slot.id, t.c.digest == digest, t.c.state == LIVE)
            .values(state=VOID, digest="", resend_at=now)
        )
        return self._run(lambda conn: conn.execute(statement).rowcount == 1)

    def revoke_account(self, account: str, *, now: int) -> int:
        t = self._t

        def attempt(conn: Connection) -> int:
            # Rows past retention are dead weight; this account's are swept here.
            conn.execute(t.delete().where(t.c.account == account, t.c.retain_until <= now))
            live = (t.c.account == account) & (t.c.state == LIVE)
            return conn.execute(update(t).where(live).values(state=VOID, digest="")).rowcount

        return self._run(attempt)

    def ping(self) -> None:
        self._run(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    def _read(self, conn: Connection, slot: Slot) -> Record | None:
        t = self._t
        columns = (t.c.digest, t.c.state, t.c.failures, t.c.expires_at, t.c.resend_at)
        row = conn.execute(select(*columns, t.c.retain_until).where(t.c.slot == slot.id)).first()
        return None if row is None else Record(*row)

    def _update_if_unchanged(
        self, conn: Connection, seen: Record, slot: Slot, values: dict[str, Any]
    ) -> bool:
        t = self._t
        unchanged = [getattr(t.c, name) == getattr(seen, name) for name in Record.__annotations__]
        statement = update(t).where(t.c.slot == slot.id, *unchanged).values(**values)
        return conn.execute(statement).rowcount == 1

    def _run(self, attempt: Callable[[Connection], T | None]) -> T:
        for _ in range(_MAX_ROUNDS):
            try:
                with self._engine.begin() as conn:
                    result = attempt(conn)
            except IntegrityError:
                continue  # another writer inserted the slot first: decide again
            except (OperationalError, InterfaceError) as exc:
                raise StoreUnavailable(f"database error: {type(exc.orig).__name__}") from exc
            if result is not None:
                return result
        raise StoreUnavailable("slot contention did not settle")
