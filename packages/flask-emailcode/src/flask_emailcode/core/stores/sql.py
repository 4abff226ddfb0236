"""The SQL store: slots as rows, made atomic by conditional UPDATEs.

Each operation reads what it needs, decides with the shared rules in ``base``,
and writes only if every row is still what it read (optimistic concurrency).
A writer that loses the race rolls back, re-reads and decides again, so twenty
threads spending one right code see exactly one success whatever the
database's isolation level.

On SQLite the driver runs a lone SELECT outside any transaction, so reading
holds no lock; the guarded UPDATE then takes the write lock on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from flask_emailcode.core.errors import StoreUnavailable
from flask_emailcode.core.outcomes import Outcome
from flask_emailcode.core.stores.base import (
    LIVE,
    SPENT,
    VOID,
    Failure,
    Record,
    Rules,
    SaveResult,
    Slot,
    SpendResult,
    cap_wait,
    codes_after_save,
    current,
    decide_save,
    decide_spend,
    join_codes,
    parse_codes,
    recent,
)

T = TypeVar("T")

# Contention, not failure: a lost race costs one more round trip. Past this many
# rounds something is wrong with the database rather than busy.
_MAX_ROUNDS = 50


class _LostRace(Exception):
    """A guarded write found its row changed; roll back and decide again."""


def code_table(metadata: MetaData, name: str = "verification_codes") -> Table:
    """The slot table, declared on the caller's metadata so its migrations see it."""
    return Table(
        name,
        metadata,
        Column("slot", String(64), primary_key=True),
        Column("account", String(24), nullable=False, index=True),
        Column("purpose", String(32), nullable=False),
        # Up to three ``<hmac>@<expires_at>`` entries (see ``base.Record``).
        Column("digest", String(255), nullable=False),
        Column("state", String(8), nullable=False),
        Column("failures", Integer, nullable=False),
        Column("expires_at", BigInteger, nullable=False),
        Column("resend_at", BigInteger, nullable=False),
        Column("retain_until", BigInteger, nullable=False),
    )


def failure_table(metadata: MetaData, name: str = "verification_failures") -> Table:
    """Recent wrong codes per (account, purpose): comma-separated ``<ms>:<client>``."""
    return Table(
        name,
        metadata,
        Column("account", String(24), primary_key=True),
        Column("purpose", String(32), primary_key=True),
        Column("times", Text, nullable=False),
    )


class SqlCodeStore:
    """Slots in a table of the application's own database."""

    def __init__(self, engine: Engine, codes: Table, failures: Table) -> None:
        self._engine = engine
        self._t = codes
        self._f = failures

    def save(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SaveResult:
        def attempt(conn: Connection) -> SaveResult:
            row = self._read(conn, slot)
            record = current(row, now)
            failures, _ = self._read_failures(conn, slot)
            decision = decide_save(
                record,
                now=now,
                max_attempts=rules.max_attempts,
                capped_for=cap_wait(failures, now=now, rules=rules, client=client),
            )
            if decision.refusal is not None:
                return decision
            codes = codes_after_save(record, digest=digest, now=now, rules=rules)
            values = {
                "digest": join_codes(codes),
                "state": LIVE,
                "failures": record.failures if record else 0,
                "expires_at": max(expires for _, expires in codes),
                "resend_at": now + rules.cooldown,
                "retain_until": max(record.retain_until if record else 0, now + rules.ttl),
            }
            if row is None:
                conn.execute(
                    self._t.insert().values(
                        slot=slot.id, account=slot.account, purpose=slot.purpose, **values
                    )
                )
            else:
                self._update_if_unchanged(conn, row, slot, values)
            return SaveResult(earlier=len(codes) - 1)

        return self._run(attempt)

    def spend(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SpendResult:
        def attempt(conn: Connection) -> SpendResult:
            failures, stored = self._read_failures(conn, slot)
            wait = cap_wait(failures, now=now, rules=rules, client=client)
            if wait > 0:
                return SpendResult(None, 0, wait)
            record = current(self._read(conn, slot), now)
            outcome = decide_spend(record, digest=digest, now=now, max_attempts=rules.max_attempts)
            if record is None or outcome in (Outcome.EXPIRED, Outcome.USED_UP):
                return SpendResult(outcome)
            if outcome is Outcome.OK:
                self._update_if_unchanged(
                    conn, record, slot, {"state": SPENT, "digest": "", "failures": 0}
                )
                return SpendResult(outcome)
            wrong = record.failures + 1
            self._update_if_unchanged(
                conn,
                record,
                slot,
                {"failures": wrong, "retain_until": max(record.retain_until, now + rules.ttl)},
            )
            kept = [*recent(failures, now=now, rules=rules), Failure(now, client)]
            self._write_failures(conn, slot, stored, kept)
            return SpendResult(outcome, rules.max_attempts - wrong)

        return self._run(attempt)

    def withdraw(self, slot: Slot, *, digest: str, now: int, reopen: bool = True) -> bool:
        def attempt(conn: Connection) -> bool:
            record = self._read(conn, slot)
            if record is None or record.state != LIVE:
                return False
            codes = parse_codes(record.digest)
            kept = [(d, e) for d, e in codes if d != digest]
            if len(kept) == len(codes):
                return False
            values: dict[str, Any] = {"digest": join_codes(kept)}
            if reopen:
                values["resend_at"] = now
            if not kept:
                values["state"] = VOID
            self._update_if_unchanged(conn, record, slot, values)
            return True

        return self._run(attempt)

    def revoke_account(self, account: str, *, now: int) -> int:
        t = self._t

        def attempt(conn: Connection) -> int:
            # Rows past retention are dead weight; this account's are swept here.
            conn.execute(t.delete().where(t.c.account == account, t.c.retain_until <= now))
            live = (t.c.account == account) & (t.c.state == LIVE)
            return int(conn.execute(update(t).where(live).values(state=VOID, digest="")).rowcount)

        return self._run(attempt)

    def ping(self) -> None:
        self._run(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    def _read(self, conn: Connection, slot: Slot) -> Record | None:
        t = self._t
        columns = (t.c.digest, t.c.state, t.c.failures, t.c.expires_at, t.c.resend_at)
        row = conn.execute(select(*columns, t.c.retain_until).where(t.c.slot == slot.id)).first()
        return None if row is None else Record(*row)

    def _read_failures(self, conn: Connection, slot: Slot) -> tuple[list[Failure], str | None]:
        f = self._f
        stored = conn.execute(
            select(f.c.times).where(f.c.account == slot.account, f.c.purpose == slot.purpose)
        ).scalar_one_or_none()
        failures = []
        for entry in stored.split(",") if stored else []:
            at, _, client = entry.partition(":")  # entries before clients were counted: "<ms>"
            failures.append(Failure(int(at), client))
        return failures, stored

    def _write_failures(
        self, conn: Connection, slot: Slot, stored: str | None, failures: list[Failure]
    ) -> None:
        f = self._f
        joined = ",".join(f"{failure.at}:{failure.client}" for failure in failures)
        if stored is None:
            conn.execute(
                f.insert().values(account=slot.account, purpose=slot.purpose, times=joined)
            )
            return
        where = (
            (f.c.account == slot.account) & (f.c.purpose == slot.purpose) & (f.c.times == stored)
        )
        if conn.execute(update(f).where(where).values(times=joined)).rowcount != 1:
            raise _LostRace

    def _update_if_unchanged(
        self, conn: Connection, seen: Record, slot: Slot, values: dict[str, Any]
    ) -> None:
        t = self._t
        unchanged = [getattr(t.c, name) == getattr(seen, name) for name in Record.__annotations__]
        statement = update(t).where(t.c.slot == slot.id, *unchanged).values(**values)
        if conn.execute(statement).rowcount != 1:
            raise _LostRace

    def _run(self, attempt: Callable[[Connection], T]) -> T:
        for _ in range(_MAX_ROUNDS):
            try:
                with self._engine.begin() as conn:
                    return attempt(conn)
            except (_LostRace, IntegrityError):
                continue  # another writer got there first: roll back, decide again
            except (OperationalError, InterfaceError) as exc:
                raise StoreUnavailable(f"database error: {type(exc.orig).__name__}") from exc
        raise StoreUnavailable("slot contention did not settle")
