"""The memory store: slots in one process's dictionaries, for tests and development.

It follows the same rules as the SQL and Redis stores (``base``) and passes the
same contract suite, atomic spend under a 20-way race included: one lock makes
each operation a single step. Nothing outlives the process and nothing is
shared between processes, so four workers would each grant every budget; the
extension refuses to start with it outside debug and testing.
"""

from __future__ import annotations

import threading
from dataclasses import replace

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


class MemoryCodeStore:
    """Slots in this process's memory, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._accounts: dict[str, set[str]] = {}
        self._failures: dict[tuple[str, str], list[Failure]] = {}

    def save(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SaveResult:
        with self._lock:
            record = current(self._records.get(slot.id), now)
            failures = self._failures.get((slot.account, slot.purpose), [])
            decision = decide_save(
                record,
                now=now,
                max_attempts=rules.max_attempts,
                capped_for=cap_wait(failures, now=now, rules=rules, client=client),
            )
            if decision.refusal is not None:
                return decision
            codes = codes_after_save(record, digest=digest, now=now, rules=rules)
            self._records[slot.id] = Record(
                digest=join_codes(codes),
                state=LIVE,
                failures=record.failures if record else 0,
                expires_at=max(expires for _, expires in codes),
                resend_at=now + rules.cooldown,
                retain_until=max(record.retain_until if record else 0, now + rules.ttl),
            )
            self._accounts.setdefault(slot.account, set()).add(slot.id)
            return SaveResult(earlier=len(codes) - 1)

    def spend(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SpendResult:
        with self._lock:
            key = (slot.account, slot.purpose)
            failures = self._failures.get(key, [])
            wait = cap_wait(failures, now=now, rules=rules, client=client)
            if wait > 0:
                return SpendResult(None, 0, wait)
            record = current(self._records.get(slot.id), now)
            outcome = decide_spend(record, digest=digest, now=now, max_attempts=rules.max_attempts)
            if record is None or outcome in (Outcome.EXPIRED, Outcome.USED_UP):
                return SpendResult(outcome)
            if outcome is Outcome.OK:
                self._records[slot.id] = replace(record, state=SPENT, digest="", failures=0)
                return SpendResult(outcome)
            wrong = record.failures + 1
            self._records[slot.id] = replace(
                record, failures=wrong, retain_until=max(record.retain_until, now + rules.ttl)
            )
            self._failures[key] = [*recent(failures, now=now, rules=rules), Failure(now, client)]
            return SpendResult(outcome, rules.max_attempts - wrong)

    def withdraw(self, slot: Slot, *, digest: str, now: int, reopen: bool = True) -> bool:
        with self._lock:
            record = self._records.get(slot.id)
            if record is None or record.state != LIVE:
                return False
            codes = parse_codes(record.digest)
            kept = [(d, e) for d, e in codes if d != digest]
            if len(kept) == len(codes):
                return False
            record = replace(record, digest=join_codes(kept))
            if reopen:
                record = replace(record, resend_at=now)
            if not kept:
                record = replace(record, state=VOID)
            self._records[slot.id] = record
            return True

    def revoke_account(self, account: str, *, now: int) -> int:
        with self._lock:
            revoked = 0
            for slot_id in list(self._accounts.get(account, ())):
                record = self._records[slot_id]
                if record.retain_until <= now:
                    # Past retention: swept here, as the SQL store sweeps its rows.
                    del self._records[slot_id]
                    self._accounts[account].discard(slot_id)
                elif record.state == LIVE:
                    self._records[slot_id] = replace(record, state=VOID, digest="")
                    revoked += 1
            return revoked

    def ping(self) -> None:
        """Memory always answers."""

    def dump(self) -> str:
        """Everything kept, as text: for tests that check no code is stored."""
        with self._lock:
            return repr((self._records, self._accounts, self._failures))
