"""Store-specific facts the shared contract cannot express."""

from __future__ import annotations

import re

import pytest
import redis
from sqlalchemy import MetaData, create_engine

from _services import free_port
from flask_emailcode.core import Policy, StoreUnavailable, Verifier
from flask_emailcode.core.stores.redis import RedisCodeStore
from flask_emailcode.core.stores.sql import SqlCodeStore, code_table, failure_table
from flask_emailcode.testing import KEY, FakeClock


def test_redis_keys_of_one_account_share_one_cluster_hash_tag(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    verifier = Verifier(
        policy=Policy(), store=RedisCodeStore(client), secret_key=KEY, clock=FakeClock()
    )
    verifier.issue(purpose="change_email", account="account:owner", address="a@example.com")
    verifier.issue(purpose="reset_password", account="account:owner", address="b@example.com")
    verifier.issue(purpose="change_email", account="account:someone-else", address="a@example.com")
    tags: dict[str, set[str]] = {}
    for key in client.scan_iter():
        found = re.fullmatch(r"vc:\{([^}]+)\}:(.+)", key.decode())
        assert found, key
        tags.setdefault(found.group(1), set()).add(found.group(2))
    # Two accounts, two tags; account 7's two slots and its index share one tag.
    assert sorted(len(members) for members in tags.values()) == [2, 3]
    assert all("a@example.com" not in member for members in tags.values() for member in members)


def test_unreachable_redis_raises_store_unavailable() -> None:
    store = RedisCodeStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    verifier = Verifier(policy=Policy(), store=store, secret_key=KEY)
    with pytest.raises(StoreUnavailable):
        verifier.issue(purpose="change_email", account="account:owner", address="a@example.com")
    with pytest.raises(StoreUnavailable):
        verifier.verify(
            purpose="change_email", account="account:owner", address="a@example.com", code="ABCDEF"
        )


def test_unreachable_database_raises_store_unavailable() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=1"
    engine = create_engine(url)
    metadata = MetaData()
    store = SqlCodeStore(engine, code_table(metadata), failure_table(metadata))
    with pytest.raises(StoreUnavailable):
        Verifier(policy=Policy(), store=store, secret_key=KEY).issue(
            purpose="change_email", account="account:owner", address="a@x.org"
        )
    engine.dispose()


@pytest.mark.parametrize("purpose", ["", "Change", "a|b", "x" * 40])
def test_bad_purpose_names_are_refused(purpose: str) -> None:
    store = RedisCodeStore.from_url("redis://127.0.0.1:1/0")  # never reached
    with pytest.raises(ValueError, match="purpose"):
        Verifier(policy=Policy(), store=store, secret_key=KEY).issue(
            purpose=purpose, account="account:owner", address="a@x.org"
        )
