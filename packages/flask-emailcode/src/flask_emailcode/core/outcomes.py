"""What issuing and verifying return."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    """The four answers to "is this the code?"."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    USED_UP = "used_up"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one verification, with the tries left after a wrong code."""

    outcome: Outcome
    attempts_left: int = 0

    @property
    def is_ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class Issued:
    """A freshly issued code: hand ``code`` to the mailer and forget it."""

    purpose: str
    account: str
    address: str
    code: str
    expires_in: int
    resend_after: int
    # The slot's earlier codes still alive beside this one.
    earlier: int = 0

    def __repr__(self) -> str:
        # Keep the code out of tracebacks and log lines that format this object.
        return f"Issued(purpose={self.purpose!r}, account={self.account!r}, code='***')"
