from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.services import POSTGRES, RedisServer, missing

# App fixtures (database per test, app, staff, API client) for tests/campus and tests/e2e.
pytest_plugins = ["tests.app_fixtures"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A Redis URL on an empty test database, flushed again afterwards."""
    if redis_server.url is None:
        missing(redis_server.reason)
    assert redis_server.url is not None
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield redis_server.url
    client.flushdb()
    client.close()


@pytest.fixture(scope="session", autouse=True)
def _stop_throwaway_postgres() -> Iterator[None]:
    """A PostgreSQL started for this session (no TEST_DATABASE_URL) ends with it."""
    yield
    POSTGRES.stop()
