"""The contract every code store meets, as a pytest suite a third-party store can run.

Subclass ``CodeStoreContract`` in a test module and give it a ``store``
fixture (and, to prove nothing but keyed digests is kept, a ``stored_text``
fixture returning a callable that reads back everything the store holds)::

    from flask_emailcode.testing import CodeStoreContract

    class TestMyStore(CodeStoreContract):
        @pytest.fixture
        def store(self):
            return MyStore(...)

The memory, SQL and Redis stores run this same suite; its racing tests spend
one right code from 20 threads at once and expect exactly one success.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flask_emailcode.core import CooldownActive, Outcome, Policy, TooManyFailures, Verifier
from flask_emailcode.core.policy import DEFAULT_ALPHABET
from flask_emailcode.core.stores.base import CodeStore

__all__ = ["KEY", "CodeStoreContract", "FakeClock", "wrong_code"]

KEY = b"k" * 32


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wrong_code(code: str, alphabet: str = DEFAULT_ALPHABET) -> str:
    """A well-formed code that differs from ``code`` in its first character."""
    other = next(ch for ch in alphabet if ch != code[0])
    return other + code[1:]


OTHER = "account:someone-else"

P, A, ADDR = "change_email", "account:owner", "new@example.com"

PURPOSES = ["change_email", "sign_up", "reset_password"]


def issue_three(verifier: Verifier, clock: FakeClock) -> list[str]:
    """Three codes for one slot, a cooldown apart, all alive."""
    codes = []
    for n in range(3):
        if n:
            clock.advance(verifier.policy.resend_cooldown)
        codes.append(verifier.issue(purpose=P, account=A, address=ADDR).code)
    return codes


def burn(verifier: Verifier, address: str, purpose: str = P) -> None:
    """Issue a code to ``address`` and spend every try on it with wrong guesses."""
    code = verifier.issue(purpose=purpose, account=A, address=address).code
    bad = wrong_code(code, verifier.policy.alphabet)
    for _ in range(verifier.policy.max_attempts):
        assert (
            verifier.verify(purpose=purpose, account=A, address=address, code=bad).outcome
            is Outcome.WRONG
        )


def burn_from(verifier: Verifier, client: str, address: str) -> None:
    """``burn``, with every request and guess made by ``client``."""
    code = verifier.issue(purpose=P, account=A, address=address, client=client).code
    bad = wrong_code(code, verifier.policy.alphabet)
    for _ in range(verifier.policy.max_attempts):
        verdict = verifier.verify(purpose=P, account=A, address=address, code=bad, client=client)
        assert verdict.outcome is Outcome.WRONG


class CodeStoreContract:
    """The shared tests; a subclass provides the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> CodeStore:
        raise NotImplementedError("a CodeStoreContract subclass provides the store fixture")

    @pytest.fixture
    def stored_text(self) -> Callable[[], str]:
        pytest.skip("this store gives no stored_text fixture to read back what it keeps")

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def policy(self) -> Policy:
        return Policy()

    @pytest.fixture
    def verifier(self, store: CodeStore, policy: Policy, clock: FakeClock) -> Verifier:
        return Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)

    def test_right_code_verifies_once(self, verifier: Verifier) -> None:
        issued = verifier.issue(purpose=P, account=A, address=ADDR)
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=issued.code).outcome
            is Outcome.OK
        )
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=issued.code).outcome
            is Outcome.USED_UP
        )

    def test_code_is_typed_without_regard_to_case_spaces_or_dashes(
        self, verifier: Verifier
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        typed = f" {code[:3].lower()}-{code[3:].lower()} "
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=typed).outcome is Outcome.OK

    def test_wrong_code_reports_attempts_left_then_burns(self, verifier: Verifier) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        bad = wrong_code(code, verifier.policy.alphabet)
        max_attempts = verifier.policy.max_attempts
        lefts = [
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad).attempts_left
            for _ in range(max_attempts)
        ]
        assert lefts == list(range(max_attempts - 1, -1, -1))
        # Burned: even the right code is refused now.
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome
            is Outcome.USED_UP
        )

    def test_expired_code_is_refused_and_wrong_guesses_after_expiry_cost_nothing(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        bad = wrong_code(code, verifier.policy.alphabet)
        clock.advance(verifier.policy.ttl)
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome
            is Outcome.EXPIRED
        )
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad).outcome is Outcome.EXPIRED
        )
        clock.advance(-1)  # one second before expiry: the code works, no try was spent
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad).attempts_left
            == verifier.policy.max_attempts - 1
        )
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome is Outcome.OK

    def test_no_code_issued_reads_as_expired(self, verifier: Verifier) -> None:
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code="ABCDEF").outcome
            is Outcome.EXPIRED
        )

    @pytest.mark.parametrize(
        ("purpose", "account", "address"),
        [("reset_password", A, ADDR), (P, OTHER, ADDR), (P, A, "other@example.com")],
        ids=["other-purpose", "other-account", "other-address"],
    )
    def test_code_is_bound_to_its_purpose_account_and_address(
        self, verifier: Verifier, purpose: str, account: str, address: str
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        assert (
            verifier.verify(purpose=purpose, account=account, address=address, code=code).outcome
            is not Outcome.OK
        )
        # The misuse neither spent nor burned the real code.
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome is Outcome.OK

    def test_resend_within_cooldown_is_refused_with_the_wait(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        verifier.issue(purpose=P, account=A, address=ADDR)
        clock.advance(20)
        with pytest.raises(CooldownActive) as refused:
            verifier.issue(purpose=P, account=A, address=ADDR)
        assert refused.value.retry_after == verifier.policy.resend_cooldown - 20
        # Another address or purpose has its own cooldown.
        verifier.issue(purpose=P, account=A, address="other@example.com")
        verifier.issue(purpose="reset_password", account=A, address=ADDR)

    def test_the_last_three_codes_stay_alive(self, verifier: Verifier, clock: FakeClock) -> None:
        first = verifier.issue(purpose=P, account=A, address=ADDR)
        assert first.earlier == 0
        clock.advance(verifier.policy.resend_cooldown)
        second = verifier.issue(purpose=P, account=A, address=ADDR)
        assert second.earlier == 1
        # The mail that was held back arrives, and its code still works.
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=first.code).is_ok

    def test_spending_any_code_spends_them_all(self, verifier: Verifier, clock: FakeClock) -> None:
        codes = issue_three(verifier, clock)
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=codes[1]).is_ok
        for code in codes:
            verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=code)
            assert verdict.outcome is Outcome.USED_UP

    def test_a_fourth_code_retires_the_first(self, verifier: Verifier, clock: FakeClock) -> None:
        codes = issue_three(verifier, clock)
        clock.advance(verifier.policy.resend_cooldown)
        fourth = verifier.issue(purpose=P, account=A, address=ADDR)
        assert fourth.earlier == 2
        if codes[0] not in (*codes[1:], fourth.code):
            verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=codes[0])
            assert verdict.outcome is Outcome.WRONG
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=codes[1]).is_ok

    def test_each_code_expires_on_its_own(self, verifier: Verifier, clock: FakeClock) -> None:
        first = verifier.issue(purpose=P, account=A, address=ADDR).code
        clock.advance(verifier.policy.resend_cooldown)
        second = verifier.issue(purpose=P, account=A, address=ADDR).code
        clock.advance(verifier.policy.ttl - verifier.policy.resend_cooldown)  # the first's expiry
        if first != second:
            verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=first)
            assert verdict.outcome is Outcome.EXPIRED
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=second).is_ok

    def test_the_live_codes_share_one_attempt_count(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        codes = issue_three(verifier, clock)
        bad = wrong_code(codes[0], verifier.policy.alphabet)
        while bad in codes:
            bad = wrong_code(bad, verifier.policy.alphabet)
        lefts = [
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad).attempts_left
            for _ in range(verifier.policy.max_attempts)
        ]
        assert lefts == list(range(verifier.policy.max_attempts - 1, -1, -1))
        for code in codes:  # five wrong tries burned all three
            verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=code)
            assert verdict.outcome is Outcome.USED_UP

    def test_twenty_racing_submissions_across_three_live_codes_succeed_once(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        codes = issue_three(verifier, clock)
        barrier = threading.Barrier(20)

        def race(n: int) -> Outcome:
            barrier.wait()
            code = codes[n % 3]
            return verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = list(pool.map(race, range(20)))
        assert outcomes.count(Outcome.OK) == 1
        assert outcomes.count(Outcome.USED_UP) == 19

    def test_new_code_does_not_reset_the_failure_count(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        bad = wrong_code(code, verifier.policy.alphabet)
        for _ in range(3):
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad)
        clock.advance(verifier.policy.resend_cooldown)
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        verdict = verifier.verify(
            purpose=P, account=A, address=ADDR, code=wrong_code(code, verifier.policy.alphabet)
        )
        assert verdict.attempts_left == verifier.policy.max_attempts - 4

    def test_burned_slot_refuses_new_codes_until_failures_age_out(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        bad = wrong_code(code, verifier.policy.alphabet)
        for _ in range(verifier.policy.max_attempts):
            verifier.verify(purpose=P, account=A, address=ADDR, code=bad)
        clock.advance(verifier.policy.resend_cooldown)
        with pytest.raises(TooManyFailures) as refused:
            verifier.issue(purpose=P, account=A, address=ADDR)
        wait = refused.value.retry_after
        assert 0 < wait <= verifier.policy.ttl
        clock.advance(wait)
        fresh = verifier.issue(purpose=P, account=A, address=ADDR).code
        assert verifier.verify(
            purpose=P, account=A, address=ADDR, code=wrong_code(fresh, verifier.policy.alphabet)
        ).attempts_left == (verifier.policy.max_attempts - 1)

    def test_right_code_clears_the_failure_count(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        verifier.verify(
            purpose=P, account=A, address=ADDR, code=wrong_code(code, verifier.policy.alphabet)
        )
        verifier.verify(purpose=P, account=A, address=ADDR, code=code)
        clock.advance(verifier.policy.resend_cooldown)
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        verdict = verifier.verify(
            purpose=P, account=A, address=ADDR, code=wrong_code(code, verifier.policy.alphabet)
        )
        assert verdict.attempts_left == verifier.policy.max_attempts - 1

    def test_withdrawn_code_is_void_and_may_be_resent_at_once(self, verifier: Verifier) -> None:
        issued = verifier.issue(purpose=P, account=A, address=ADDR)
        assert verifier.withdraw(purpose=P, account=A, address=ADDR, code=issued.code) is True
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=issued.code).outcome
            is Outcome.USED_UP
        )
        again = verifier.issue(
            purpose=P, account=A, address=ADDR
        )  # no cooldown: nothing was delivered
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=again.code).outcome
            is Outcome.OK
        )

    def test_a_withdrawal_that_does_not_reopen_keeps_the_cooldown(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        issued = verifier.issue(purpose=P, account=A, address=ADDR)
        withdrawn = verifier.withdraw(
            purpose=P, account=A, address=ADDR, code=issued.code, reopen=False
        )
        assert withdrawn is True
        outcome = verifier.verify(purpose=P, account=A, address=ADDR, code=issued.code).outcome
        assert outcome is Outcome.USED_UP
        with pytest.raises(CooldownActive):
            verifier.issue(purpose=P, account=A, address=ADDR)
        clock.advance(verifier.policy.resend_cooldown)
        assert verifier.issue(purpose=P, account=A, address=ADDR).code

    def test_withdraw_voids_only_that_code(self, verifier: Verifier, clock: FakeClock) -> None:
        first = verifier.issue(purpose=P, account=A, address=ADDR)
        clock.advance(verifier.policy.resend_cooldown)
        second = verifier.issue(purpose=P, account=A, address=ADDR)
        if first.code == second.code:
            return  # one chance in 887 million: nothing to tell apart
        assert verifier.withdraw(purpose=P, account=A, address=ADDR, code=first.code) is True
        assert verifier.withdraw(purpose=P, account=A, address=ADDR, code=first.code) is False
        verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=first.code)
        assert verdict.outcome is Outcome.WRONG
        assert verifier.verify(purpose=P, account=A, address=ADDR, code=second.code).is_ok

    def test_revoke_account_voids_all_its_codes_and_no_others(self, verifier: Verifier) -> None:
        mine = [
            verifier.issue(purpose=P, account=A, address=ADDR),
            verifier.issue(purpose="reset_password", account=A, address="x@example.com"),
        ]
        theirs = verifier.issue(purpose=P, account=OTHER, address=ADDR)
        assert verifier.revoke_account(A) == 2
        for issued in mine:
            verdict = verifier.verify(
                purpose=issued.purpose,
                account=issued.account,
                address=issued.address,
                code=issued.code,
            )
            assert verdict.outcome is Outcome.USED_UP
        assert (
            verifier.verify(purpose=P, account=OTHER, address=ADDR, code=theirs.code).outcome
            is Outcome.OK
        )

    def test_twenty_threads_racing_one_right_code_succeed_exactly_once(
        self, verifier: Verifier
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        barrier = threading.Barrier(20)

        def race() -> Outcome:
            barrier.wait()
            return verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = list(pool.map(lambda _: race(), range(20)))
        assert outcomes.count(Outcome.OK) == 1
        assert outcomes.count(Outcome.USED_UP) == 19

    def test_racing_wrong_guesses_never_exceed_the_attempt_limit(self, verifier: Verifier) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        bad = wrong_code(code, verifier.policy.alphabet)
        barrier = threading.Barrier(20)

        def race() -> Outcome:
            barrier.wait()
            return verifier.verify(purpose=P, account=A, address=ADDR, code=bad).outcome

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = list(pool.map(lambda _: race(), range(20)))
        assert outcomes.count(Outcome.WRONG) == verifier.policy.max_attempts
        assert (
            verifier.verify(purpose=P, account=A, address=ADDR, code=code).outcome
            is Outcome.USED_UP
        )

    def test_store_keeps_only_a_keyed_digest(
        self, verifier: Verifier, stored_text: Callable[[], str]
    ) -> None:
        code = verifier.issue(purpose=P, account=A, address=ADDR).code
        stored = stored_text()
        assert code not in stored
        assert ADDR not in stored
        expected = hmac.new(KEY, f"{P}|{A}|{ADDR}|{code}".encode(), hashlib.sha256).hexdigest()
        assert expected in stored
        unkeyed = hashlib.sha256(f"{P}|{A}|{ADDR}|{code}".encode()).hexdigest()
        assert unkeyed not in stored

    def test_failure_cap_holds_across_codes_and_addresses(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        policy = verifier.policy
        rounds = policy.failure_cap // policy.max_attempts
        for n in range(rounds):
            burn(verifier, f"victim{n}@example.com")
        with pytest.raises(TooManyFailures) as refused:
            verifier.issue(purpose=P, account=A, address="fresh@example.com")
        assert refused.value.retry_after > policy.failure_window - 60
        with pytest.raises(TooManyFailures):
            verifier.verify(purpose=P, account=A, address="victim0@example.com", code="ABCDEF")
        # Another purpose, or another account, is not held back.
        other = verifier.issue(purpose="reset_password", account=A, address="fresh@example.com")
        assert verifier.verify(
            purpose="reset_password", account=A, address=other.address, code=other.code
        ).is_ok
        assert verifier.issue(purpose=P, account=OTHER, address="fresh@example.com").code
        # The window slides: once the oldest failures age out, tries come back.
        clock.advance(policy.failure_window)
        assert verifier.issue(purpose=P, account=A, address="fresh@example.com").code

    def test_racing_wrong_guesses_never_pass_the_failure_cap(self, verifier: Verifier) -> None:
        policy = verifier.policy
        addresses = [
            f"a{n}@example.com" for n in range(policy.failure_cap // policy.max_attempts + 1)
        ]
        guesses = []
        for address in addresses:
            code = verifier.issue(purpose=P, account=A, address=address).code
            guesses += [(address, wrong_code(code, policy.alphabet))] * policy.max_attempts
        barrier = threading.Barrier(len(guesses))

        def race(guess: tuple[str, str]) -> str:
            barrier.wait()
            try:
                return verifier.verify(
                    purpose=P, account=A, address=guess[0], code=guess[1]
                ).outcome.value
            except TooManyFailures:
                return "capped"

        with ThreadPoolExecutor(max_workers=len(guesses)) as pool:
            results = list(pool.map(race, guesses))
        assert results.count("wrong") == policy.failure_cap
        assert results.count("capped") == len(guesses) - policy.failure_cap

    def test_one_clients_failures_leave_another_client_its_own_cap(
        self, verifier: Verifier, clock: FakeClock
    ) -> None:
        """A stranger spending the cap on the owner's slot does not lock the owner out."""
        policy = verifier.policy
        for _ in range(policy.failure_cap // policy.max_attempts):
            burn_from(verifier, "stranger", "owner@example.com")
            clock.advance(policy.ttl)  # a burned slot takes new codes once its failures age out
        with pytest.raises(TooManyFailures):
            verifier.issue(purpose=P, account=A, address="owner@example.com", client="stranger")
        with pytest.raises(TooManyFailures):
            verifier.verify(
                purpose=P, account=A, address="owner@example.com", code="ABCDEF", client="stranger"
            )
        # The owner is not held back by the stranger's cap (only, for one code's
        # life, by a slot the stranger just burned).
        issued = verifier.issue(purpose=P, account=A, address="owner@example.com", client="owner")
        assert verifier.verify(
            purpose=P, account=A, address=issued.address, code=issued.code, client="owner"
        ).is_ok
        with pytest.raises(TooManyFailures):
            verifier.issue(purpose=P, account=A, address="owner@example.com", client="stranger")

    def test_the_ceiling_bounds_every_client_together(
        self, store: CodeStore, clock: FakeClock
    ) -> None:
        policy = Policy(failure_cap=10, failure_ceiling=30, max_attempts=5)
        engine = Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)
        clients = [f"client{n}" for n in range(policy.failure_ceiling // policy.failure_cap)]
        for n, client in enumerate(clients):
            for m in range(policy.failure_cap // policy.max_attempts):
                burn_from(engine, client, f"a{n}-{m}@example.com")
        with pytest.raises(TooManyFailures) as refused:
            engine.issue(purpose=P, account=A, address="fresh@example.com", client="newcomer")
        assert refused.value.retry_after > policy.failure_window - 60
        with pytest.raises(TooManyFailures):
            engine.verify(
                purpose=P, account=A, address="a0-0@example.com", code="ABCDEF", client="newcomer"
            )
        clock.advance(policy.failure_window)
        assert engine.issue(
            purpose=P, account=A, address="fresh@example.com", client="newcomer"
        ).code

    def test_the_owner_is_not_stopped_by_the_ceiling_but_by_its_own_cap(
        self, store: CodeStore, clock: FakeClock
    ) -> None:
        policy = Policy(failure_cap=10, failure_ceiling=30, max_attempts=5)
        engine = Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)
        for n in range(policy.failure_ceiling // policy.failure_cap):
            for m in range(policy.failure_cap // policy.max_attempts):
                burn_from(engine, f"stranger{n}", f"a{n}-{m}@example.com")
        owner: dict[str, Any] = {"purpose": P, "account": A, "client": "owner", "trusted": True}
        code = engine.issue(address="mine@example.com", **owner).code
        assert engine.verify(address="mine@example.com", code=code, **owner).is_ok
        # Its own mistakes still meet its own cap.
        for m in range(policy.failure_cap // policy.max_attempts):
            issued = engine.issue(address=f"typo{m}@example.com", **owner).code
            bad = wrong_code(issued, policy.alphabet)
            for _ in range(policy.max_attempts):
                engine.verify(address=f"typo{m}@example.com", code=bad, **owner)
        with pytest.raises(TooManyFailures):
            engine.issue(address="again@example.com", **owner)

    def test_slots_counted_as_one_account_share_its_cap(
        self, store: CodeStore, clock: FakeClock
    ) -> None:
        """Codes bound to an address alone, counted for the account that has the address:
        guesses spread over its addresses meet one cap, not one each."""
        policy = Policy(failure_cap=10, failure_ceiling=100, max_attempts=5)
        engine = Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)
        names = [f"addr:address{n}" for n in range(3)]
        wrong = 0
        for name in names[:2]:
            code = engine.issue(purpose=P, account=name, address="x@example.com", client="c",
                                counted_as=A).code  # fmt: skip
            bad = wrong_code(code, policy.alphabet)
            for _ in range(policy.max_attempts):
                engine.verify(
                    purpose=P, account=name, address="x@example.com", code=bad, client="c",
                    counted_as=A,
                )  # fmt: skip
                wrong += 1
        assert wrong == policy.failure_cap
        with pytest.raises(TooManyFailures):
            engine.issue(
                purpose=P, account=names[2], address="x@example.com", client="c", counted_as=A
            )
        # Not counted as the account, the same address's slot has a cap of its own.
        assert engine.issue(purpose=P, account=names[2], address="x@example.com", client="c").code

    def test_racing_clients_never_pass_the_ceiling(
        self, store: CodeStore, clock: FakeClock
    ) -> None:
        policy = Policy(failure_cap=10, failure_ceiling=15, max_attempts=5)
        engine = Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)
        guesses = []
        for n in range(4):  # four clients, ten guesses each: forty against a ceiling of fifteen
            for m in range(2):
                address = f"c{n}-{m}@example.com"
                code = engine.issue(purpose=P, account=A, address=address, client=f"c{n}").code
                guesses += [(f"c{n}", address, wrong_code(code, policy.alphabet))] * 5
        barrier = threading.Barrier(len(guesses))

        def race(guess: tuple[str, str, str]) -> str:
            barrier.wait()
            try:
                return engine.verify(
                    purpose=P, account=A, address=guess[1], code=guess[2], client=guess[0]
                ).outcome.value
            except TooManyFailures:
                return "capped"

        with ThreadPoolExecutor(max_workers=len(guesses)) as pool:
            results = list(pool.map(race, guesses))
        assert results.count("wrong") == policy.failure_ceiling

    def test_a_client_tag_cannot_break_the_stored_format(self, verifier: Verifier) -> None:
        for bad in ("a:b", "a,b", "x" * 65, "a b"):
            with pytest.raises(ValueError):
                verifier.issue(purpose=P, account=A, address="a@example.com", client=bad)

    @pytest.mark.parametrize("issued_for", PURPOSES)
    @pytest.mark.parametrize("tried_for", PURPOSES)
    def test_a_code_works_for_its_own_purpose_only(
        self, verifier: Verifier, issued_for: str, tried_for: str
    ) -> None:
        code = verifier.issue(purpose=issued_for, account=A, address=ADDR).code
        outcome = verifier.verify(purpose=tried_for, account=A, address=ADDR, code=code).outcome
        assert (outcome is Outcome.OK) is (issued_for == tried_for)
