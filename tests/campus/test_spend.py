"""Taking several budgets in one step: all or nothing, in the limits library's own model."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
from flask import Flask
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from campus.support.budgets import Budget, Limited, budget_storage, spend


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def budgets(app: Flask) -> tuple[Budget, Budget]:
    return (
        Budget("EMAILCODE_LIMIT_PER_IP", "test-ip", "192.0.2.1"),
        Budget("EMAILCODE_LIMIT_PER_ACCOUNT", "test-account", "7"),
    )


def remaining(budget: Budget) -> int:
    """What the limits library itself reads in the storage for this budget."""
    strategy = MovingWindowRateLimiter(budget_storage())
    return int(strategy.get_window_stats(budget.item, *budget.identifiers).remaining)


def test_a_spent_budget_refuses_and_nothing_else_is_counted(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="2/hour", EMAILCODE_LIMIT_PER_ACCOUNT="5/hour")
    with app.test_request_context():
        per_ip, per_account = budgets(app)
        spend(take=[per_ip, per_account])
        spend(take=[per_ip, per_account])
        assert (remaining(per_ip), remaining(per_account)) == (0, 3)
        with pytest.raises(Limited) as refused:
            spend(take=[per_account, per_ip])
        assert refused.value.scope == "test-ip"
        assert refused.value.limit == str(per_ip.item)
        # The account's budget was not counted for the refused request.
        assert remaining(per_account) == 3


def test_a_checked_budget_refuses_without_being_counted(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="1/hour", EMAILCODE_LIMIT_PER_ACCOUNT="5/hour")
    with app.test_request_context():
        per_ip, per_account = budgets(app)
        spend(take=[per_account], check=[per_ip])  # checked only: not counted
        assert (remaining(per_ip), remaining(per_account)) == (1, 4)
        spend(take=[per_ip])
        with pytest.raises(Limited):
            spend(take=[per_account], check=[per_ip])
        assert remaining(per_account) == 4


def test_the_wait_is_the_one_the_limits_library_computes(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="1/hour")
    with app.test_request_context():
        per_ip, _ = budgets(app)
        spend(take=[per_ip])
        strategy = MovingWindowRateLimiter(budget_storage())
        assert not strategy.test(per_ip.item, *per_ip.identifiers)  # the library agrees
        reset = strategy.get_window_stats(per_ip.item, *per_ip.identifiers).reset_time
        with pytest.raises(Limited) as refused:
            spend(take=[per_ip])
        expected = math.ceil(reset - time.time())
        assert abs(refused.value.retry_after - expected) <= 1
        assert refused.value.retry_after > 3500


def test_with_redis_a_request_s_budgets_are_one_round_trip(
    make_app: Callable[..., Flask], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(REDIS_URL=redis_url, MAIL_DELIVERY="direct")
    with app.test_request_context():
        storage = budget_storage()
        assert isinstance(storage, RedisStorage)
        connection = storage.get_connection()
        commands: list[str] = []
        original = type(connection).execute_command

        def counted(self: object, *args: object, **kwargs: object) -> object:
            commands.append(str(args[0]))
            return original(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(type(connection), "execute_command", counted)
        spend(take=list(budgets(app)), check=[Budget("EMAILCODE_LIMIT_PER_ADDRESS", "x", "y")])
        assert commands == ["EVALSHA"]
