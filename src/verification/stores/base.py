"""The storage contract every store meets, and the rules they all apply.

A *slot* is one (purpose, account, address). It holds at most one live code digest
and a failure count that outlives the code: replacing a code never resets it
(NIST SP 800-63B rev. 4), only a right code or the slot aging out does.

Beside the slots, each (account, purpose) keeps the times of its recent wrong
codes: past ``cap`` of them within ``window``, nothing more is checked or sent
for that purpose, whatever the address or the number of codes issued.
All times are integer milliseconds on the caller's clock.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Protocol

from verification.outcomes import Outcome

LIVE, SPENT, VOID = "live", "spent", "void"


@dataclass(frozen=True)
class Slot:
    """Keyed names for one (purpose, account, address)."""

    id: str
    account: str
    purpose: str


@dataclass(frozen=True)
class Record:
    """What a store keeps for a slot. ``digest`` is an HMAC, never a code."""

    digest: str
    state: str
    failures: int
    expires_at: int
    resend_at: int
    retain_until: int


@dataclass(frozen=True)
class Rules:
    """The policy in store units (milliseconds), handed to every operation."""

    ttl: int
    cooldown: int
    max_attempts: int
    cap: int
    window: int


class Refusal(enum.Enum):
    """Why a new code may not be saved."""

    COOLDOWN = "cooldown"
    LOCKED = "locked"


@dataclass(frozen=True)
class SaveResult:
    """``refusal`` is None when the code was saved; otherwise wait ``wait_ms``."""

    refusal: Refusal | None = None
    wait_ms: int = 0


@dataclass(frozen=True)
class SpendResult:
    """``outcome`` is None when the account's failure cap refused the check outright."""

    outcome: Outcome | None
    attempts_left: int = 0
    wait_ms: int = 0


class CodeStore(Protocol):
    """Atomic operations on slots. Each call is all-or-nothing."""

    def save(self, slot: Slot, *, digest: str, now: int, rules: Rules) -> SaveResult:
        """Replace the slot's code unless cooling down, locked or capped."""

    def spend(self, slot: Slot, *, digest: str, now: int, rules: Rules) -> SpendResult:
        """Check a digest and, if right, spend it in the same step."""

    def withdraw(self, slot: Slot, *, digest: str, now: int) -> bool:
        """Void a code that was never delivered, and allow an immediate resend."""

    def revoke_account(self, account: str, *, now: int) -> int:
        """Void every live code of an account; return how many."""

    def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""


def current(record: Record | None, now: int) -> Record | None:
    """A record past its retention is as good as absent."""
    if record is None or record.retain_until <= now:
        return None
    return record


def recent(failure_times: list[int], *, now: int, rules: Rules) -> list[int]:
    """The failure times still inside the window, oldest first."""
    return sorted(t for t in failure_times if t > now - rules.window)


def cap_wait(failure_times: list[int], *, now: int, rules: Rules) -> int:
    """Milliseconds until the cap admits another try; 0 when it does now."""
    times = recent(failure_times, now=now, rules=rules)
    if len(times) < rules.cap:
        return 0
    return times[-rules.cap] + rules.window - now


def decide_save(
    record: Record | None, *, now: int, max_attempts: int, capped_for: int = 0
) -> SaveResult:
    """May a new code replace what the slot holds?"""
    if capped_for > 0:
        return SaveResult(Refusal.LOCKED, capped_for)
    if record is None:
        return SaveResult()
    if record.failures >= max_attempts:
        return SaveResult(Refusal.LOCKED, record.retain_until - now)
    if now < record.resend_at:
        return SaveResult(Refusal.COOLDOWN, record.resend_at - now)
    return SaveResult()


def decide_spend(record: Record | None, *, digest: str, now: int, max_attempts: int) -> Outcome:
    """Judge a digest against a record. Every live code goes through compare_digest."""
    if record is None:
        return Outcome.EXPIRED
    if record.state != LIVE or record.failures >= max_attempts:
        return Outcome.USED_UP
    if now >= record.expires_at:
        return Outcome.EXPIRED
    if hmac.compare_digest(record.digest, digest):
        return Outcome.OK
    return Outcome.WRONG
