"""The exported contract suite (``flask_emailcode.testing``) on every store we ship:
memory, SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import MetaData, create_engine

from _services import missing, postgres_url
from flask_emailcode.core.stores.memory import MemoryCodeStore
from flask_emailcode.core.stores.redis import RedisCodeStore
from flask_emailcode.core.stores.sql import SqlCodeStore, code_table, failure_table
from flask_emailcode.testing import CodeStoreContract


class TestMemoryStore(CodeStoreContract):
    @pytest.fixture
    def store(self) -> MemoryCodeStore:
        return MemoryCodeStore()

    @pytest.fixture
    def stored_text(self, store: MemoryCodeStore) -> Callable[[], str]:
        return store.dump


class _SqlContract(CodeStoreContract):
    def url(self, tmp_path: Path) -> str:
        raise NotImplementedError

    @pytest.fixture
    def sql(self, tmp_path: Path) -> Iterator[tuple[SqlCodeStore, Callable[[], str]]]:
        engine = create_engine(self.url(tmp_path), pool_size=25, max_overflow=5)
        suffix = uuid.uuid4().hex[:8]
        metadata = MetaData()
        codes = code_table(metadata, name=f"vc_test_{suffix}")
        failures = failure_table(metadata, name=f"vf_test_{suffix}")
        metadata.create_all(engine)

        def dump() -> str:
            with engine.connect() as conn:
                rows = conn.execute(codes.select()).all() + conn.execute(failures.select()).all()
                return repr(rows)

        try:
            yield SqlCodeStore(engine, codes, failures), dump
        finally:
            metadata.drop_all(engine)
            engine.dispose()

    @pytest.fixture
    def store(self, sql: tuple[SqlCodeStore, Callable[[], str]]) -> SqlCodeStore:
        return sql[0]

    @pytest.fixture
    def stored_text(self, sql: tuple[SqlCodeStore, Callable[[], str]]) -> Callable[[], str]:
        return sql[1]


class TestSqliteStore(_SqlContract):
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'codes.sqlite3'}"


class TestPostgresStore(_SqlContract):
    def url(self, tmp_path: Path) -> str:
        url = postgres_url()
        if url is None:
            missing("PostgreSQL store tests: TEST_DATABASE_URL is not set")
        assert url is not None
        return url


class TestRedisStore(CodeStoreContract):
    @pytest.fixture
    def client(self, redis_url: str) -> Iterator[redis.Redis]:
        client = redis.Redis.from_url(redis_url)
        yield client
        client.close()

    @pytest.fixture
    def store(self, client: redis.Redis) -> RedisCodeStore:
        return RedisCodeStore(client)

    @pytest.fixture
    def stored_text(self, client: redis.Redis) -> Callable[[], str]:
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

        return dump


def test_two_prefixes_keep_two_apps_apart_in_one_redis(redis_url: str) -> None:
    from flask_emailcode.core import Outcome, Policy, Verifier
    from flask_emailcode.testing import KEY, FakeClock

    client = redis.Redis.from_url(redis_url)
    clock = FakeClock()
    first = Verifier(
        policy=Policy(), store=RedisCodeStore(client, prefix="one"), secret_key=KEY, clock=clock
    )
    second = Verifier(
        policy=Policy(), store=RedisCodeStore(client, prefix="two"), secret_key=KEY, clock=clock
    )
    slot = {"purpose": "sign_up", "account": "a", "address": "a@example.com"}
    code = first.issue(**slot).code
    # Same key, same slot: only the prefix differs, and the other app knows no code.
    assert second.verify(**slot, code=code).outcome is Outcome.EXPIRED
    assert second.issue(**slot).code  # no cooldown carried over either
    assert first.verify(**slot, code=code).outcome is Outcome.OK
    assert {key.split(b":")[0] for key in client.scan_iter()} == {b"one", b"two"}
    client.close()
