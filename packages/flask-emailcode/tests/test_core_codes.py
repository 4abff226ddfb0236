"""Pure tests of code generation, normalisation, digests and policy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import flask_emailcode.core
from flask_emailcode.core import Policy, codes, generate_code, normalize_code

ENGINE = Path(flask_emailcode.core.__file__).parent


def test_default_policy_matches_the_contract() -> None:
    policy = Policy()
    assert (policy.ttl, policy.length, policy.max_attempts, policy.resend_cooldown) == (
        600,
        6,
        5,
        60,
    )


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1IL") & set(Policy().alphabet)


def test_codes_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []

    def choice(seq: str) -> str:
        drawn.append(seq)
        return seq[-1]

    monkeypatch.setattr(codes.secrets, "choice", choice)
    policy = Policy()
    assert generate_code(policy) == policy.alphabet[-1] * policy.length
    assert drawn == [policy.alphabet] * policy.length


def test_codes_use_the_whole_alphabet_and_length() -> None:
    policy = Policy(length=8)
    seen = "".join(generate_code(policy) for _ in range(400))
    assert set(seen) == set(policy.alphabet)
    assert all(len(generate_code(policy)) == 8 for _ in range(20))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("abc-def", "ABCDEF"), (" ab cd ef ", "ABCDEF"), ("AB\u3000CD-EF", "ABCDEF"), ("a_b", "AB")],
)
def test_normalize_code(typed: str, expected: str) -> None:
    assert normalize_code(typed) == expected


def test_policy_from_settings_reads_prefixed_integers() -> None:
    settings = {"EMAILCODE_TTL": "300", "EMAILCODE_LENGTH": 8, "EMAILCODE_MAX_ATTEMPTS": ""}
    policy = Policy.from_mapping(settings)
    assert (policy.ttl, policy.length, policy.max_attempts) == (300, 8, Policy().max_attempts)


@pytest.mark.parametrize(
    "bad", [{"ttl": 0}, {"length": 3}, {"alphabet": "AAB"}, {"alphabet": "abcdefghijk"}]
)
def test_policy_rejects_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Policy(**bad)  # type: ignore[arg-type]


def test_engine_source_imports_no_flask() -> None:
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                inside = name == "flask_emailcode.core" or name.startswith("flask_emailcode.core.")
                assert inside or not name.startswith("flask"), f"{path} imports {name}"


def test_importing_the_engine_loads_no_flask() -> None:
    # The package's own ``__init__`` loads the Flask side lazily, so the engine is
    # importable (and testable) where Flask is not wanted.
    probe = (
        "import sys, flask_emailcode.core, flask_emailcode.core.stores.sql,"
        " flask_emailcode.core.stores.redis, flask_emailcode.core.stores.memory;"
        "print(sorted(m for m in sys.modules if m.startswith(('flask', 'werkzeug'))"
        " and m != 'flask_emailcode' and not m.startswith('flask_emailcode.core')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
