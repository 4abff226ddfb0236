"""Who asks for a code, or types one: as the failure caps count them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from campus.models import Account


def _nobody(_: Account) -> bool:
    return False


@dataclass(frozen=True)
class Asker:
    """The tag of the client's network address; and, when the browser carries a device
    cookie, that device's own tag and a test of whether it is the given account's.

    An owner on a browser it has logged in on is counted apart from everyone else:
    under its device's tag (so strangers behind the same campus gateway do not spend
    its cap) and past the ceiling all clients share (so they cannot lock it out).
    """

    client: str
    device: str | None = None
    is_owner: Callable[[Account], bool] = field(default=_nobody)

    def counted(self, account: Account | None) -> tuple[str, bool]:
        """The client tag to count under for ``account``'s codes, and whether it is its owner."""
        if account is not None and self.device is not None and self.is_owner(account):
            return self.device, True
        return self.client, False
