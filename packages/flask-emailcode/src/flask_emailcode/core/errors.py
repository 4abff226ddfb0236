"""Plain exceptions the engine raises; callers map them to their own answers."""

from __future__ import annotations


class VerificationError(Exception):
    """Base class for everything this package raises on purpose."""


class IssueRefused(VerificationError):
    """No code may be issued for this slot yet."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class CooldownActive(IssueRefused):
    """A code was sent moments ago; resending now would only feed a mail bomb."""


class TooManyFailures(IssueRefused):
    """Too many wrong codes were entered; the slot is locked until they age out."""


class StoreUnavailable(VerificationError):
    """The backing store (database or Redis) could not be reached."""
