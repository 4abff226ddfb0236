"""Taking several budgets in one step: all or nothing, in the limits library's own model,
on the app's clock."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from flask import Flask, current_app
from limits.storage import RedisStorage

from campus.support.budgets import Budget, Limited, budget_storage, spend
from flask_emailcode.limit_storage import SqlStorage
from tests.clock import FakeClock


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def budgets(app: Flask) -> tuple[Budget, Budget]:
    return (
        Budget("EMAILCODE_LIMIT_PER_IP", "test-ip", "192.0.2.1"),
        Budget("EMAILCODE_LIMIT_PER_ACCOUNT", "test-account", "7"),
    )


def window(budget: Budget) -> tuple[float, int]:
    """The moving window the storage itself reads for this budget at the app's clock:
    ``limits``' own Lua script on Redis, the SQL storage's query elsewhere."""
    storage, item = budget_storage(), budget.item
    now = float(current_app.config["CAMPUS_CLOCK"]())
    if isinstance(storage, RedisStorage):
        found = storage.lua_moving_window(
            [storage.prefixed_key(budget.key)], [now - item.get_expiry(), item.amount]
        )
        return (float(found[0]), int(found[1])) if found else (now, 0)
    assert isinstance(storage, SqlStorage)
    return storage.get_moving_window(budget.key, item.amount, item.get_expiry(), now=now)


def remaining(budget: Budget) -> int:
    """What the storage itself counts for this budget, at the app's clock."""
    return budget.item.amount - window(budget)[1]


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
    limits_in: Callable[..., Flask], clock: FakeClock
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="1/hour")
    with app.test_request_context():
        per_ip, _ = budgets(app)
        spend(take=[per_ip])
        start, counted = window(per_ip)
        assert counted == per_ip.item.amount  # the storage agrees it is spent
        clock.advance(600)
        with pytest.raises(Limited) as refused:
            spend(take=[per_ip])
        assert refused.value.retry_after == math.ceil(start + per_ip.item.get_expiry() - clock())
        assert refused.value.retry_after == 3000


def test_the_budgets_count_on_the_app_s_clock(
    limits_in: Callable[..., Flask], clock: FakeClock
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="1/hour")
    with app.test_request_context():
        per_ip, _ = budgets(app)
        spend(take=[per_ip])
        clock.advance(3599)
        with pytest.raises(Limited) as refused:
            spend(take=[per_ip])
        assert refused.value.retry_after == 1
        clock.advance(1.5)  # the hour has passed on the app's clock, none on the wall's
        spend(take=[per_ip])
        assert remaining(per_ip) == 0


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
