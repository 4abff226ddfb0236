from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from argon2 import PasswordHasher

from campus.support import passwords
from tests.services import POSTGRES, RedisServer, missing
from tests.smtp_server import Inbox, smtp_server

# App fixtures (database per test, app, staff, API client) for tests/campus and tests/e2e.
pytest_plugins = ["tests.app_fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """argon2 at its lowest cost inside the test process: the production parameters cost a
    quarter of a second a hash, hundreds of times over. Processes the tests start (a worker,
    gunicorn) keep production's, and test_passwords.py checks those parameters."""
    production = passwords._hasher, passwords._DUMMY
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    passwords._hasher, passwords._DUMMY = fast, fast.hash("campus-dummy-password")
    yield
    passwords._hasher, passwords._DUMMY = production


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


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    """A plain SMTP server of the test's own: its port and inbox. TLS tests build theirs."""
    with smtp_server("plain") as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def _stop_throwaway_postgres() -> Iterator[None]:
    """A PostgreSQL started for this session (no TEST_DATABASE_URL) ends with it."""
    yield
    POSTGRES.stop()
