"""Right, wrong and malformed codes cost the same: one digest, one constant-time compare."""

from __future__ import annotations

import hmac
import statistics
import time
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from flask_emailcode.core import Outcome, Policy, Verifier
from flask_emailcode.core.stores import base
from flask_emailcode.core.stores.sql import SqlCodeStore, code_table, failure_table
from flask_emailcode.testing import KEY

P, A, ADDR = "change_email", "account:owner", "timing@example.com"


@pytest.fixture
def verifier(tmp_path: Path) -> Verifier:
    engine = create_engine(f"sqlite:///{tmp_path / 'timing.sqlite3'}")
    metadata = MetaData()
    codes, failures = code_table(metadata), failure_table(metadata)
    metadata.create_all(engine)
    # Enough tries that no guess here burns the code, and failures age out at once.
    policy = Policy(
        max_attempts=100_000, failure_cap=100_000, failure_ceiling=100_000, failure_window=1
    )
    return Verifier(policy=policy, store=SqlCodeStore(engine, codes, failures), secret_key=KEY)


def test_right_and_wrong_codes_both_go_through_compare_digest(
    verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(base.hmac, "compare_digest", spy)
    code = verifier.issue(purpose=P, account=A, address=ADDR).code
    for typed in ("!", "A" * 6, code):
        verifier.verify(purpose=P, account=A, address=ADDR, code=typed)
    assert len(calls) == 3
    assert all(len(a) == len(b) == 64 for a, b in calls)  # digests, never codes


def test_no_measurable_timing_split_between_near_far_and_malformed_guesses(
    verifier: Verifier,
) -> None:
    """A real split shows in every round; a busy machine's noise does not. So the claim must
    hold in one of three rounds of interleaved samples, not in each."""
    code = verifier.issue(purpose=P, account=A, address=ADDR).code
    alphabet = verifier.policy.alphabet
    other = {ch: next(x for x in alphabet if x != ch) for ch in alphabet}
    guesses = {
        "far": other[code[0]] + code[1:],  # wrong from the first character
        "near": code[:-1] + other[code[-1]],  # right but for the last
        "malformed": "?" * (len(code) - 1),
    }
    ratios = []
    for _ in range(3):
        samples: dict[str, list[float]] = {name: [] for name in guesses}
        for _ in range(400):
            for name, guess in guesses.items():  # interleaved, so drift hits all alike
                started = time.perf_counter()
                verdict = verifier.verify(purpose=P, account=A, address=ADDR, code=guess)
                samples[name].append(time.perf_counter() - started)
                assert verdict.outcome is Outcome.WRONG
        medians = [statistics.median(values) for values in samples.values()]
        ratios.append(max(medians) / min(medians))
        if ratios[-1] < 1.25:
            break
    assert min(ratios) < 1.25, ratios
