"""The rules a verification code lives by, fixed once and passed in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# No 0/O, 1/I/L: a code read off a phone screen must survive being retyped.
DEFAULT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Policy:
    """How long a code lives, what it looks like and how often it may be tried."""

    ttl: int = 600
    length: int = 6
    alphabet: str = DEFAULT_ALPHABET
    max_attempts: int = 5
    resend_cooldown: int = 60
    # Wrong codes per account and purpose from one client, across every code and
    # address, in a sliding window; and from all clients together, the ceiling.
    # Counting per client keeps a stranger from spending the owner's budget;
    # the ceiling (NIST SP 800-63B's 100) bounds a stranger with many clients.
    failure_cap: int = 20
    failure_ceiling: int = 100
    failure_window: int = 86400
    # Codes of one slot alive at once, each with its own expiry. Mail held back
    # for minutes (greylisting, a slow campus relay) must not turn the code in it
    # into a wrong one once the person asked again. Each live code adds a chance
    # per guess, so the guessing bound grows with it (docs/security.md).
    live_codes: int = 3

    def __post_init__(self) -> None:
        if self.ttl <= 0:
            raise ValueError("ttl must be positive")
        if not 4 <= self.length <= 32:
            raise ValueError("length must be between 4 and 32")
        if len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 10:
            raise ValueError("alphabet must hold at least 10 distinct characters")
        if self.alphabet != self.alphabet.upper() or not self.alphabet.isalnum():
            raise ValueError("alphabet must be upper-case letters and digits")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.resend_cooldown < 0:
            raise ValueError("resend_cooldown must not be negative")
        if self.failure_cap < self.max_attempts or self.failure_window <= 0:
            raise ValueError("failure_cap must be at least max_attempts, over a positive window")
        if self.failure_ceiling < self.failure_cap:
            raise ValueError("failure_ceiling must be at least failure_cap")
        if not 1 <= self.live_codes <= 5:
            raise ValueError("live_codes must be between 1 and 5")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], prefix: str = "EMAILCODE_") -> Policy:
        """Build a policy from ``EMAILCODE_*`` style settings, defaults for the rest."""

        def pick(name: str, default: int) -> int:
            value = settings.get(prefix + name)
            return default if value in (None, "") else int(value)

        defaults = cls()
        return cls(
            ttl=pick("TTL", defaults.ttl),
            length=pick("LENGTH", defaults.length),
            max_attempts=pick("MAX_ATTEMPTS", defaults.max_attempts),
            resend_cooldown=pick("RESEND_COOLDOWN", defaults.resend_cooldown),
            failure_cap=pick("FAILURE_CAP", defaults.failure_cap),
            failure_ceiling=pick("FAILURE_CEILING", defaults.failure_ceiling),
            failure_window=pick("FAILURE_WINDOW", defaults.failure_window),
        )

    @property
    def combinations(self) -> int:
        """How many distinct codes the policy can produce."""
        return int(len(self.alphabet) ** self.length)
