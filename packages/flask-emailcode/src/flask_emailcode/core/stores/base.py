"""The storage contract every store meets, and the rules they all apply.

A *slot* is one (purpose, account, address). It holds the digests of its last few
codes (``Rules.live_codes``, three by default), each with its own expiry, so a
code that mail held back still works after the person asked again; and one
failure count they all share, which outlives them: a new code never resets it
(NIST SP 800-63B rev. 4), only a right code or the slot aging out does. A right
code spends every code of the slot at once.

Beside the slots, each (account, purpose) keeps the times of its recent wrong
codes and the client each came from: past ``cap`` of them from one client, or
``ceiling`` from all clients, within ``window``, nothing more is checked or sent
for that purpose to that client (or to any), whatever the address or the number
of codes issued. A client is an opaque tag the caller chooses (a keyed digest
of the network address, say); it never holds ``:`` or ``,``.
All times are integer milliseconds on the caller's clock.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import Protocol

from flask_emailcode.core.outcomes import Outcome

LIVE, SPENT, VOID = "live", "spent", "void"


@dataclass(frozen=True)
class Slot:
    """Keyed names for one (purpose, account, address)."""

    id: str
    account: str
    purpose: str


@dataclass(frozen=True)
class Record:
    """What a store keeps for a slot.

    ``digest`` holds the live codes as ``<hmac>@<expires_at>`` joined by ``,``:
    HMACs, never codes. ``expires_at`` is the latest of their expiries.
    """

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
    ceiling: int
    window: int
    live_codes: int = 3


class Refusal(enum.Enum):
    """Why a new code may not be saved."""

    COOLDOWN = "cooldown"
    LOCKED = "locked"


@dataclass(frozen=True)
class SaveResult:
    """``refusal`` is None when the code was saved; otherwise wait ``wait_ms``.

    ``earlier`` counts the slot's other codes still alive beside the new one.
    """

    refusal: Refusal | None = None
    wait_ms: int = 0
    earlier: int = 0


@dataclass(frozen=True)
class SpendResult:
    """``outcome`` is None when the account's failure cap refused the check outright."""

    outcome: Outcome | None
    attempts_left: int = 0
    wait_ms: int = 0


class CodeStore(Protocol):
    """Atomic operations on slots. Each call is all-or-nothing."""

    def save(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SaveResult:
        """Add a code to the slot (retiring the oldest past ``live_codes``) unless cooling
        down, locked or capped for ``client``."""

    def spend(self, slot: Slot, *, digest: str, now: int, rules: Rules, client: str) -> SpendResult:
        """Check a digest and, if right, spend it in one step; a wrong one counts for ``client``."""

    def withdraw(self, slot: Slot, *, digest: str, now: int, reopen: bool = True) -> bool:
        """Void one code that was never delivered (the others stay); with ``reopen``, allow
        a resend now."""

    def revoke_account(self, account: str, *, now: int) -> int:
        """Void every live code of an account; return how many."""

    def ping(self) -> None:
        """Raise StoreUnavailable unless the backend answers."""


def current(record: Record | None, now: int) -> Record | None:
    """A record past its retention is as good as absent."""
    if record is None or record.retain_until <= now:
        return None
    return record


@dataclass(frozen=True)
class Failure:
    """One wrong code: when, and from which client."""

    at: int
    client: str


def recent(failures: list[Failure], *, now: int, rules: Rules) -> list[Failure]:
    """The failures still inside the window, oldest first."""
    return sorted((f for f in failures if f.at > now - rules.window), key=lambda f: f.at)


def cap_wait(failures: list[Failure], *, now: int, rules: Rules, client: str) -> int:
    """Milliseconds until ``client`` may try again under the cap and the ceiling; 0 now."""
    live = recent(failures, now=now, rules=rules)
    waits = [0]
    mine = [f.at for f in live if f.client == client]
    if len(mine) >= rules.cap:
        waits.append(mine[-rules.cap] + rules.window - now)
    if len(live) >= rules.ceiling:
        waits.append(live[-rules.ceiling].at + rules.window - now)
    return max(waits)


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


def parse_codes(stored: str) -> list[tuple[str, int]]:
    """The ``(digest, expires_at)`` of each code a record holds, oldest first."""
    entries = []
    for entry in stored.split(",") if stored else []:
        digest, _, expires = entry.partition("@")
        entries.append((digest, int(expires)))
    return entries


def join_codes(entries: list[tuple[str, int]]) -> str:
    return ",".join(f"{digest}@{expires}" for digest, expires in entries)


def codes_after_save(
    record: Record | None, *, digest: str, now: int, rules: Rules
) -> list[tuple[str, int]]:
    """The slot's codes once ``digest`` joins them: the newest ``live_codes``, unexpired."""
    kept = []
    if record is not None and record.state == LIVE:
        kept = [(d, e) for d, e in parse_codes(record.digest) if e > now]
    return [*kept, (digest, now + rules.ttl)][-rules.live_codes :]


def decide_spend(record: Record | None, *, digest: str, now: int, max_attempts: int) -> Outcome:
    """Judge a digest against a record. Every code the slot holds goes through compare_digest,
    so the time taken says nothing about which one matched, or how nearly."""
    if record is None:
        return Outcome.EXPIRED
    if record.state != LIVE or record.failures >= max_attempts:
        return Outcome.USED_UP
    entries = parse_codes(record.digest)
    matched: int | None = None
    for stored, expires in entries:
        if hmac.compare_digest(stored, digest):
            matched = expires
    if matched is not None:
        return Outcome.OK if now < matched else Outcome.EXPIRED
    if all(now >= expires for _, expires in entries):
        return Outcome.EXPIRED  # guesses at a slot with no live code cost nothing
    return Outcome.WRONG
