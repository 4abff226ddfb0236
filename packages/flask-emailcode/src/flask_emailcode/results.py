"""What ``send`` and ``verify`` return."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sent:
    """A code went out (or, for ``send_quietly``, is going out after the answer).

    ``resend_after``: seconds until another code may be asked for; ``expires_in``:
    seconds the code lives; ``delivery``: the id to ask ``status`` about;
    ``earlier``: the slot's earlier codes still alive (their mails work too).
    """

    resend_after: int
    expires_in: int
    delivery: str
    earlier: int = 0

    def as_dict(self) -> dict[str, int | str]:
        """The fields as a JSON-ready dict, for an answer's body."""
        return asdict(self)


@dataclass(frozen=True)
class Proof:
    """A right code was spent: ``address`` is proven for ``purpose`` (and ``account``)."""

    purpose: str
    address: str
    account: str | None
