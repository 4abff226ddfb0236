from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import MetaData, Table, create_engine

from tests.clock import FakeClock
from tests.services import POSTGRES, missing, postgres_url
from verification import Policy, Verifier
from verification.stores.base import CodeStore
from verification.stores.redis import RedisCodeStore
from verification.stores.sql import SqlCodeStore, code_table, failure_table

KEY = b"k" * 32


class StoreUnderTest:
    """A store plus a way to read back everything it keeps, as raw text."""

    def __init__(self, store: CodeStore, dump: object) -> None:
        self.store = store
        self.dump = dump  # callable returning every stored value as one string


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _sql_store(url: str) -> Iterator[StoreUnderTest]:
    engine = create_engine(url, pool_size=25, max_overflow=5)
    suffix = uuid.uuid4().hex[:8]
    metadata = MetaData()
    table: Table = code_table(metadata, name=f"vc_test_{suffix}")
    failures: Table = failure_table(metadata, name=f"vf_test_{suffix}")
    metadata.create_all(engine)

    def dump() -> str:
        with engine.connect() as conn:
            return repr(conn.execute(table.select()).all() + conn.execute(failures.select()).all())

    try:
        yield StoreUnderTest(SqlCodeStore(engine, table, failures), dump)
    finally:
        metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture(params=["sql-sqlite", "sql-postgres", "redis"])
def store_under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    if request.param == "sql-sqlite":
        yield from _sql_store(f"sqlite:///{tmp_path / 'codes.sqlite3'}")
    elif request.param == "sql-postgres":
        url = postgres_url()
        if url is None:
            missing(f"PostgreSQL store tests: {POSTGRES.reason}")
        assert url is not None
        yield from _sql_store(url)
    else:
        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url)

        def dump() -> str:
            parts = []
            for key in client.scan_iter():
                kind = client.type(key)
                if kind == b"hash":
                    value: object = client.hgetall(key)
                elif kind == b"zset":
                    value = client.zrange(key, 0, -1, withscores=True)
                else:
                    value = client.smembers(key)
                parts.append(f"{key!r}={value!r}")
            return "\n".join(parts)

        yield StoreUnderTest(RedisCodeStore(client), dump)
        client.close()


@pytest.fixture
def store(store_under_test: StoreUnderTest) -> CodeStore:
    return store_under_test.store


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def verifier(store: CodeStore, policy: Policy, clock: FakeClock) -> Verifier:
    return Verifier(policy=policy, store=store, secret_key=KEY, clock=clock)
