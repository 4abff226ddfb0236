"""Production hashes passwords with argon2id at RFC 9106's second recommended cost.

The test process swaps in a cheap hasher (tests/conftest.py), so this looks at
what a fresh process, as production runs it, stores.
"""

from __future__ import annotations

import subprocess
import sys

from campus.support.passwords import check_password

HASH_IN_A_FRESH_PROCESS = (
    "from campus.support.passwords import hash_password; print(hash_password('a passphrase'))"
)


def test_a_production_process_hashes_with_the_full_argon2id_cost() -> None:
    stored = subprocess.run(
        [sys.executable, "-c", HASH_IN_A_FRESH_PROCESS], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    # Read back by the parameters the hash carries, whatever hasher this process holds.
    assert check_password(stored, "a passphrase")
    assert not check_password(stored, "another passphrase")


def test_the_test_process_hashes_cheaply() -> None:
    from campus.support.passwords import hash_password

    assert hash_password("x").startswith("$argon2id$v=19$m=8,t=1,p=1$")
