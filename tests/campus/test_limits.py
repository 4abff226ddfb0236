"""Request-rate limits (budgets before the view) and the engine's limits, as a client meets them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import Api, last_code, letters, log_in, wrong_code
from tests.services import free_port


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    """Limits do not depend on the database; one is enough here."""
    return sqlite_only


def client(app: Flask, email: str, ip: str = "192.0.2.1") -> Api:
    api = Api(app.test_client())
    api.client.environ_base["REMOTE_ADDR"] = ip
    log_in(add_staff(app, email), api)
    return api


def ask(api: Api, email: str, **headers: str) -> Any:
    return api.post("/cms/email_captcha", {"email": email}, headers=headers)


def assert_limited(response: Any) -> int:
    assert response.status_code == 429, response.get_json()
    wait = int(response.headers["Retry-After"])
    assert wait > 0
    assert response.get_json()["data"]["retry_after"] == wait
    return wait


def test_codes_per_address_share_one_budget_whatever_the_case_or_idn(
    limits_in: Callable[..., Flask], clock: FakeClock
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ADDRESS="3/hour")
    api = client(app, "staff@example.com")
    spellings = ["User@Bücher.example", "user@bücher.example", "USER@xn--bcher-kva.example"]
    for spelling in spellings:
        assert ask(api, spelling).status_code == 200
        clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    wait = assert_limited(ask(api, "user@BÜCHER.example"))
    assert wait > 3000  # an hour's window, not a cooldown
    assert len(letters(app)) == 3
    assert ask(api, "other@bücher.example").status_code == 200


def test_refused_sends_do_not_spend_the_address_budget(
    limits_in: Callable[..., Flask], clock: FakeClock
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ADDRESS="2/hour")
    api = client(app, "staff@example.com")
    assert ask(api, "a@example.com").status_code == 200
    assert ask(api, "a@example.com").status_code == 429  # cooldown: nothing sent, nothing spent
    clock.advance(60)
    assert ask(api, "a@example.com").status_code == 200
    clock.advance(60)
    assert_limited(ask(api, "a@example.com"))


def test_codes_per_client_address(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="3/hour")
    api = client(app, "staff@example.com", ip="192.0.2.1")
    for n in range(3):
        assert ask(api, f"n{n}@example.com").status_code == 200
    assert_limited(ask(api, "n3@example.com"))
    # A forged X-Forwarded-For changes nothing without trusted proxy hops.
    assert_limited(ask(api, "n4@example.com", **{"X-Forwarded-For": "198.51.100.7"}))
    other = client(app, "other@example.com", ip="192.0.2.2")
    assert ask(other, "n5@example.com").status_code == 200


def test_forwarded_for_counts_only_with_trusted_hops(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_IP="2/hour", PROXY_FIX_X_FOR=1)
    api = client(app, "staff@example.com", ip="10.0.0.1")  # the proxy
    first = {"X-Forwarded-For": "198.51.100.1"}
    assert ask(api, "a@example.com", **first).status_code == 200
    assert ask(api, "b@example.com", **first).status_code == 200
    assert_limited(ask(api, "c@example.com", **first))
    assert ask(api, "d@example.com", **{"X-Forwarded-For": "198.51.100.2"}).status_code == 200


def test_codes_per_account(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ACCOUNT="2/hour")
    api = client(app, "staff@example.com", ip="192.0.2.1")
    assert ask(api, "a@example.com").status_code == 200
    assert ask(api, "b@example.com").status_code == 200
    api.client.environ_base["REMOTE_ADDR"] = "192.0.2.99"  # moving elsewhere does not help
    assert_limited(ask(api, "c@example.com"))
    other = client(app, "other@example.com", ip="192.0.2.1")
    assert ask(other, "d@example.com").status_code == 200


def test_global_ceiling_on_codes_sent(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(EMAILCODE_LIMIT_GLOBAL="3/day")
    for n in range(3):
        api = client(app, f"staff{n}@example.com", ip=f"192.0.2.{n + 1}")
        assert ask(api, f"to{n}@example.com").status_code == 200
    late = client(app, "late@example.com", ip="192.0.2.50")
    assert_limited(ask(late, "to9@example.com"))
    assert len(letters(app)) == 3


def burn_the_failure_cap(app: Flask, api: Api, clock: FakeClock) -> None:
    """Spend every wrong try the cap allows, five per code, on fresh addresses."""
    cap, per_code = app.config["EMAILCODE_FAILURE_CAP"], app.config["EMAILCODE_MAX_ATTEMPTS"]
    for n in range(cap // per_code):
        address = f"victim{n}@example.com"
        assert ask(api, address).status_code == 200
        code = last_code(app, address)
        wrong = wrong_code(code)
        for _ in range(per_code):
            response = api.post("/cms/resetemail", {"email": address, "captcha": wrong})
            assert response.status_code == 400
        clock.advance(1)


def test_disabling_rate_limits_keeps_cooldown_attempts_and_failure_cap(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(RATELIMIT_ENABLED=False, EMAILCODE_LIMIT_PER_ADDRESS="1/hour")
    api = client(app, "staff@example.com")
    assert ask(api, "a@example.com").status_code == 200
    assert_limited(ask(api, "a@example.com"))  # the cooldown stays
    clock.advance(60)
    assert ask(api, "a@example.com").status_code == 200  # the request limit is off
    burn_the_failure_cap(app, api, clock)
    # Twenty wrong codes in a day: no more checks and no more codes for this purpose.
    ask(api, "last@example.com")
    wait = assert_limited(
        api.post("/cms/resetemail", {"email": "a@example.com", "captcha": "ABCDEF"})
    )
    assert wait > app.config["EMAILCODE_FAILURE_WINDOW"] - 120
    assert_limited(ask(api, "fresh@example.com"))


def test_limited_requests_are_not_500_when_limits_live_in_a_dead_redis(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    staff = add_staff(app, "staff@example.com")
    api = Api(app.test_client())
    # Log-in budgets live there too: without them no password is checked.
    login = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert login.status_code == 503
    api.refresh_token("/signup")
    assert api.post("/signup/code", {"email": "a@example.com"}).status_code == 503


def test_guesses_from_one_client_are_bounded_across_accounts(
    limits_in: Callable[..., Flask],
) -> None:
    """The engine caps wrong codes per account; one client spreading them is bounded too."""
    app = limits_in(EMAILCODE_VERIFY_LIMIT_PER_IP="4/hour")
    guesser = Api(app.test_client())
    guesser.client.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    guesser.refresh_token("/password/reset")
    statuses = [
        guesser.post(
            "/password/reset",
            {"email": f"victim{n}@example.com", "code": "ABCDEF", "password": "a long password"},
        ).status_code
        for n in range(6)
    ]
    assert statuses == [400] * 4 + [429] * 2
    assert_limited(
        guesser.post(
            "/signup", {"email": "x@example.com", "code": "ABCDEF", "password": "pw pw pw pw"}
        )
    )
    other = Api(app.test_client())
    other.client.environ_base["REMOTE_ADDR"] = "198.51.100.10"
    other.refresh_token("/password/reset")
    fields = {"email": "victim0@example.com", "code": "ABCDEF", "password": "a long password"}
    assert other.post("/password/reset", fields).status_code == 400
