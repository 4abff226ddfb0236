"""The SQL storage for the ``limits`` library meets what Redis storage does.

Each test runs on SQLite, PostgreSQL and (as the reference) Redis, through the
library's own moving-window strategy, the one the app uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy import MetaData, create_engine

from campus.support.limit_storage import hit_table, storage_uri
from tests.services import POSTGRES, missing, postgres_url


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def strategy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MovingWindowRateLimiter]:
    if request.param == "redis":
        yield MovingWindowRateLimiter(storage_from_string(request.getfixturevalue("redis_url")))
        return
    if request.param == "postgres":
        url = postgres_url()
        if url is None:
            missing(f"PostgreSQL storage tests: {POSTGRES.reason}")
        assert url is not None
    else:
        url = f"sqlite:///{tmp_path / 'limits.sqlite3'}"
    engine = create_engine(url)
    metadata = MetaData()
    table = hit_table(metadata, name=f"limit_test_{tmp_path.name[-8:].lower()}")
    metadata.create_all(engine)
    yield MovingWindowRateLimiter(storage_from_string(storage_uri(engine, table)))
    metadata.drop_all(engine)
    engine.dispose()


def test_a_window_admits_its_amount_then_refuses(strategy: MovingWindowRateLimiter) -> None:
    item = parse("3/hour")
    assert [strategy.hit(item, "a") for _ in range(5)] == [True, True, True, False, False]
    assert strategy.hit(item, "b")  # another key has its own window
    stats = strategy.get_window_stats(item, "a")
    assert stats.remaining == 0
    assert 3590 < stats.reset_time - time.time() <= 3600
    assert not strategy.test(item, "a") and strategy.test(item, "b")


def test_a_hit_leaves_the_window_when_it_ages_out(strategy: MovingWindowRateLimiter) -> None:
    item = parse("2/second")
    assert strategy.hit(item, "k") and strategy.hit(item, "k")
    assert not strategy.hit(item, "k")
    time.sleep(1.1)
    assert strategy.hit(item, "k")


def test_clear_empties_one_key(strategy: MovingWindowRateLimiter) -> None:
    item = parse("1/hour")
    assert strategy.hit(item, "a") and strategy.hit(item, "b")
    strategy.clear(item, "a")
    assert strategy.hit(item, "a")
    assert not strategy.hit(item, "b")


def test_racing_hits_never_pass_the_limit(strategy: MovingWindowRateLimiter) -> None:
    item = parse("5/hour")
    start = threading.Barrier(20)
    results: list[bool] = []
    lock = threading.Lock()

    def race() -> None:
        start.wait()
        granted = strategy.hit(item, "raced")
        with lock:
            results.append(granted)

    threads = [threading.Thread(target=race) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True] * 5


def test_the_fixed_window_counts_on_the_same_storage(strategy: MovingWindowRateLimiter) -> None:
    """The storage serves the library's other strategy too, not only the app's."""
    fixed = FixedWindowRateLimiter(strategy.storage)
    item = parse("3/hour")
    assert [fixed.hit(item, "f") for _ in range(4)] == [True, True, True, False]
    stats = fixed.get_window_stats(item, "f")
    assert stats.remaining == 0 and 3590 < stats.reset_time - time.time() <= 3600
    short = parse("1/second")
    assert fixed.hit(short, "g") and not fixed.hit(short, "g")
    time.sleep(1.1)
    assert fixed.hit(short, "g")
