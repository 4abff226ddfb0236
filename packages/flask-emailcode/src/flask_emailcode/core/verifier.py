"""The verification process: issue a code for a slot, verify it once, revoke."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import replace

from flask_emailcode.core.codes import (
    account_tag,
    code_digest,
    generate_code,
    normalize_code,
    slot_id,
)
from flask_emailcode.core.errors import CooldownActive, TooManyFailures
from flask_emailcode.core.outcomes import Issued, Outcome, Verdict
from flask_emailcode.core.policy import Policy
from flask_emailcode.core.stores.base import CodeStore, Refusal, Rules, Slot

# Purposes and accounts go into digests joined by "|"; keeping them to a plain
# alphabet keeps that join unambiguous.
_NAME = re.compile(r"[A-Za-z0-9_.:@+-]{1,64}")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# Clients are stored beside failure times, joined by ":" and ",".
_CLIENT = re.compile(r"[A-Za-z0-9_.-]{0,64}")


class Verifier:
    """Issues and checks codes under one policy, one store and one secret key."""

    def __init__(
        self,
        *,
        policy: Policy,
        store: CodeStore,
        secret_key: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret_key) < 16:
            raise ValueError("secret_key must hold at least 16 bytes")
        self.policy = policy
        self._store = store
        self._key = secret_key
        self._clock = clock
        self._rules = Rules(
            ttl=policy.ttl * 1000,
            cooldown=policy.resend_cooldown * 1000,
            max_attempts=policy.max_attempts,
            cap=policy.failure_cap,
            ceiling=policy.failure_ceiling,
            window=policy.failure_window * 1000,
            live_codes=policy.live_codes,
        )

    def issue(
        self,
        *,
        purpose: str,
        account: str,
        address: str,
        client: str = "",
        counted_as: str | None = None,
        trusted: bool = False,
    ) -> Issued:
        """Make a new code for the slot. The slot's earlier codes stay alive until they
        expire or ``policy.live_codes`` newer ones retire them; ``Issued.earlier`` counts them.

        Keyword-only: purpose, account, address and client are all strings, and
        a swapped pair would bind the code to the wrong slot without an error.

        ``client`` names who asks (an opaque tag): the failure cap counts per
        client, so one client's wrong guesses do not stop another's codes.
        ``counted_as`` names the account whose failures the slot's count toward
        (by default ``account``): codes bound to an address alone count for the
        account that has the address, so its addresses share one cap. ``trusted``:
        the client is the account's owner (a browser it logged in on), whom the
        ceiling for all clients together does not stop; its own cap still does.
        Raises CooldownActive or TooManyFailures with the seconds to wait.
        """
        slot = self._slot(purpose, account, address, counted_as)
        code = generate_code(self.policy)
        result = self._store.save(
            slot,
            digest=self._digest(purpose, account, address, code),
            now=self._now(),
            rules=self._rules_for(trusted),
            client=_check_client(client),
        )
        if result.refusal is Refusal.COOLDOWN:
            raise CooldownActive(_seconds(result.wait_ms))
        if result.refusal is Refusal.LOCKED:
            raise TooManyFailures(_seconds(result.wait_ms))
        return Issued(
            purpose=purpose,
            account=account,
            address=address,
            code=code,
            expires_in=self.policy.ttl,
            resend_after=self.policy.resend_cooldown,
            earlier=result.earlier,
        )

    def verify(
        self,
        *,
        purpose: str,
        account: str,
        address: str,
        code: str,
        client: str = "",
        counted_as: str | None = None,
        trusted: bool = False,
    ) -> Verdict:
        """Check a typed code against every live code of the slot and, if one is right,
        spend them all in the same atomic step.

        Raises TooManyFailures while ``client``'s failure cap for the account and
        purpose, or (unless ``trusted``) the ceiling for all clients, is full.
        ``counted_as`` and ``trusted`` are as for ``issue``.
        """
        slot = self._slot(purpose, account, address, counted_as)
        typed = normalize_code(code)
        if len(typed) != self.policy.length or not set(typed) <= set(self.policy.alphabet):
            # No issued code looks like this; digest a stand-in that cannot match
            # so a malformed guess costs the same as any other wrong one.
            typed = "!" * self.policy.length
        digest = self._digest(purpose, account, address, typed)
        result = self._store.spend(
            slot,
            digest=digest,
            now=self._now(),
            rules=self._rules_for(trusted),
            client=_check_client(client),
        )
        if result.outcome is None:
            raise TooManyFailures(_seconds(result.wait_ms))
        left = result.attempts_left if result.outcome is Outcome.WRONG else 0
        return Verdict(result.outcome, left)

    def withdraw(
        self,
        *,
        purpose: str,
        account: str,
        address: str,
        code: str,
        reopen: bool = True,
        counted_as: str | None = None,
    ) -> bool:
        """Void a code that could not be delivered, so nothing undelivered stays valid.

        Only that code: a newer one issued since for the same slot stays. With
        ``reopen`` the cooldown ends too, so a new code may go at once; without, it
        runs on, as it does for a code nobody was sent (so that a mailbox that
        refuses mail cannot be told apart from one no account has).
        """
        slot = self._slot(purpose, account, address, counted_as)
        digest = self._digest(purpose, account, address, code)
        return self._store.withdraw(slot, digest=digest, now=self._now(), reopen=reopen)

    def revoke_account(self, account: str) -> int:
        """Void every outstanding code of an account, whatever its purpose or address."""
        _check_name(account)
        return self._store.revoke_account(
            account_tag(key=self._key, account=account), now=self._now()
        )

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        self._store.ping()

    def _slot(self, purpose: str, account: str, address: str, counted_as: str | None) -> Slot:
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError(f"bad purpose name: {purpose!r}")
        _check_name(account)
        if counted_as is not None:
            _check_name(counted_as)
        if not address or len(address) > 320:
            raise ValueError("address must be 1 to 320 characters")
        return Slot(
            id=slot_id(key=self._key, purpose=purpose, account=account, address=address),
            # The account the slot is filed under: its failures, its index, its revocation.
            account=account_tag(key=self._key, account=counted_as or account),
            purpose=purpose,
        )

    def _rules_for(self, trusted: bool) -> Rules:
        # The ceiling guards an account against everyone at once; its owner, who is
        # not everyone, meets only the cap its own client has.
        return replace(self._rules, ceiling=_NO_CEILING) if trusted else self._rules

    def _digest(self, purpose: str, account: str, address: str, code: str) -> str:
        return code_digest(
            key=self._key, purpose=purpose, account=account, address=address, code=code
        )

    def _now(self) -> int:
        return int(self._clock() * 1000)


# Higher than any number of failures a window can hold.
_NO_CEILING = 2**31 - 1


def _check_name(account: str) -> None:
    if not _NAME.fullmatch(account):
        raise ValueError(f"bad account name: {account!r}")


def _check_client(client: str) -> str:
    if not _CLIENT.fullmatch(client):
        raise ValueError(f"bad client tag: {client!r}")
    return client


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))
