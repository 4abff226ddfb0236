"""Logging in with a mailed code: alike for unknown addresses, fresh, limited, and for staff."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import (
    Api,
    Person,
    add_addresses,
    last_code,
    letters,
    member,
    settle,
    wrong_code,
)

UNKNOWN = "nobody@example.com"


def client(app: Flask, page: str = "/login") -> Api:
    api = Api(app.test_client())
    api.refresh_token(page)
    return api


def ask(api: Api, address: str) -> object:
    return api.post("/login/code", {"email": address})


def test_the_answer_is_the_same_for_unknown_addresses_which_get_no_mail(app: Flask) -> None:
    owner = member(app)
    api = client(app)
    known, unknown = ask(api, owner.email), ask(api, UNKNOWN)
    assert known.status_code == unknown.status_code == 200  # type: ignore[attr-defined]
    assert known.get_json() == unknown.get_json()  # type: ignore[attr-defined]
    settle(app)
    assert [letter.to for letter in letters(app)] == [owner.email]
    # A guess at the unknown address is answered as at a real one.
    guess = {"email": UNKNOWN, "code": "ABCDEF"}
    assert api.post("/login", guess).get_json()["data"]["attempts_left"] == 4


def test_a_right_code_logs_in_freshly_and_a_wrong_one_counts(app: Flask, clock: FakeClock) -> None:
    owner = member(app)
    api = client(app)
    assert api.post("/login", {"email": owner.email, "password": owner.password}).status_code == 200
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)  # that log-in is no longer recent
    api.refresh_token("/account")
    stale = api.post("/account/email/code", {"email": "elsewhere@example.com"})
    assert stale.status_code == 401 and stale.get_json()["data"]["reauth"] is True
    ask(api, owner.email)
    code = last_code(app, owner.email)
    refused = api.post("/login", {"email": owner.email, "code": wrong_code(code)})
    assert refused.status_code == 400
    assert refused.get_json()["data"]["errors"]["code"] == refused.get_json()["message"]
    done = api.post("/login", {"email": owner.email, "code": code})
    assert done.status_code == 200 and done.get_json()["data"]["next"] == "/account"
    api.refresh_token("/account")
    # A code log-in is a fresh one: the sensitive action needs no password again.
    moved = api.post("/account/email/code", {"email": "elsewhere@example.com"})
    assert moved.status_code == 200, moved.get_json()
    assert api.post("/login", {"email": owner.email, "code": code}).status_code == 400  # spent


def test_the_cms_opens_for_staff_logged_in_by_code(app: Flask, staff: Person) -> None:
    api = client(app, "/cms/login")
    ask(api, staff.email)
    done = api.post("/cms/login", {"email": staff.email, "code": last_code(app, staff.email)})
    assert done.status_code == 200 and done.get_json()["data"]["next"] == "/cms/"
    assert api.client.get("/cms/").status_code == 200


def test_staff_confirm_a_password_log_in_with_a_mailed_code(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    api = client(app, "/cms/login")
    first = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert first.status_code == 200 and first.get_json()["data"]["confirm_by_code"] is True
    assert api.client.get("/cms/").status_code == 302  # the CMS is not open yet
    page = api.client.get(first.get_json()["data"]["next"]).get_data(as_text=True)
    assert staff.email in page  # the code page knows where the code went
    code = last_code(app, staff.email)
    done = api.post("/cms/login", {"email": staff.email, "code": code})
    assert done.status_code == 200, done.get_json()
    assert api.client.get("/cms/").status_code == 200


def test_with_confirmation_on_a_code_alone_does_not_open_the_cms(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    api = client(app, "/cms/login")
    ask(api, staff.email)
    refused = api.post("/cms/login", {"email": staff.email, "code": last_code(app, staff.email)})
    assert refused.status_code == 400 and "code" in refused.get_json()["data"]["errors"]
    assert api.client.get("/cms/").status_code == 302
    # Members are not asked for more than their password.
    owner = member(app)
    plain = client(app).post("/login", {"email": owner.email, "password": owner.password})
    assert plain.status_code == 200 and "confirm_by_code" not in plain.get_json()["data"]


def test_checking_codes_at_log_in_is_limited_per_client_and_passwords_are_not_counted(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(EMAILCODE_VERIFY_LIMIT_PER_IP="2/hour")
    owner = member(app)
    api = client(app)
    for _ in range(3):
        assert (
            api.post("/login", {"email": owner.email, "password": "wrong one!"}).status_code == 400
        )
    guess = {"email": owner.email, "code": "ABCDEF"}
    assert [api.post("/login", guess).status_code for _ in range(3)] == [400, 400, 429]


def test_asking_for_codes_is_limited_like_every_code_request(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(EMAILCODE_LIMIT_PER_IP="1/hour")
    api = client(app)
    assert ask(api, UNKNOWN).status_code == 200  # type: ignore[attr-defined]
    limited = ask(api, "other@example.com")
    assert limited.status_code == 429 and limited.headers["Retry-After"]  # type: ignore[attr-defined]


def _password_then_code(app: Flask, staff: Person) -> int:
    """A staff password log-in with confirmation: the status of posting its mailed code."""
    api = client(app, "/cms/login")
    first = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["data"]["confirm_by_code"] is True
    code = last_code(app, staff.email)
    done = api.post("/cms/login", {"email": staff.email, "code": code})
    if done.status_code == 200:
        assert api.client.get("/cms/").status_code == 200
    return int(done.status_code)


def _strangers_ask(app: Flask, staff: Person, times: int) -> None:
    for n in range(times):
        stranger = Api(app.test_client())
        stranger.client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        stranger.refresh_token("/login")
        ask(stranger, staff.email)
    settle(app)


def test_strangers_spending_the_mailboxs_budget_cannot_hold_back_a_staff_confirmation(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    _strangers_ask(app, staff, app_limit(app, "EMAILCODE_LIMIT_PER_ADDRESS") + 1)
    assert _password_then_code(app, staff) == 200


def test_a_strangers_code_request_in_the_cooldown_cannot_hold_back_a_confirmation(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    _strangers_ask(app, staff, 1)  # the address's slot now cools down for a minute
    assert _password_then_code(app, staff) == 200


def test_strangers_guesses_cannot_burn_a_staff_confirmation(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    _strangers_ask(app, staff, 1)
    for n in range(app.config["EMAILCODE_MAX_ATTEMPTS"] + 1):
        stranger = Api(app.test_client())
        stranger.client.environ_base["REMOTE_ADDR"] = f"203.0.113.{n}"
        stranger.refresh_token("/login")
        stranger.post("/login", {"email": staff.email, "code": "ABCDEF"})
    assert _password_then_code(app, staff) == 200


def test_a_confirmation_code_opens_only_the_browser_that_proved_the_password(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    owner = client(app, "/cms/login")
    owner.post("/cms/login", {"email": staff.email, "password": staff.password})
    code = last_code(app, staff.email)
    thief = client(app, "/cms/login")
    stolen = thief.post("/cms/login", {"email": staff.email, "code": code})
    assert stolen.status_code == 400
    assert thief.client.get("/cms/").status_code == 302


def app_limit(app: Flask, setting: str) -> int:
    return int(str(app.config[setting]).split("/")[0])


GENEROUS = {
    "EMAILCODE_LIMIT_PER_IP": "10000/hour",
    "EMAILCODE_VERIFY_LIMIT_PER_IP": "10000/hour",
    "EMAILCODE_LIMIT_PER_ADDRESS": "10000/hour",
}


@pytest.mark.parametrize(
    ("ask_path", "check"),
    [
        ("/login/code", lambda a, c: {"email": a, "code": c}),
        ("/password/reset/code", lambda a, c: {"email": a, "code": c, "password": "a passphrase!"}),
    ],
    ids=["log_in", "reset"],
)
def test_guesses_spread_over_an_accounts_addresses_meet_one_cap(
    make_app: Callable[..., Flask], clock: FakeClock, ask_path: str, check: Any
) -> None:
    app = make_app(**GENEROUS)
    owner = member(app)
    addresses = add_addresses(app, owner, "second@example.com", "third@example.com")
    confirm_path = "/login" if ask_path == "/login/code" else "/password/reset"
    guesser = client(app)
    wrong = 0
    for _ in range(10):  # rounds: a fresh code to every address, five wrong guesses each
        clock.advance(app.config["EMAILCODE_TTL"])  # a burned slot takes a new code then
        for address in addresses:
            assert guesser.post(ask_path, {"email": address}).status_code == 200
        settle(app)
        for address in addresses:
            code = last_code(app, address)
            for _ in range(app.config["EMAILCODE_MAX_ATTEMPTS"]):
                answer = guesser.post(confirm_path, check(address, wrong_code(code)))
                if answer.status_code == 429:
                    assert wrong == app.config["EMAILCODE_FAILURE_CAP"]
                    return
                assert answer.status_code == 400, answer.get_json()
                wrong += 1
    raise AssertionError(f"{wrong} wrong guesses were answered, past the account's cap")


def test_the_ceiling_everyone_shares_does_not_lock_the_owners_browser_out(
    make_app: Callable[..., Flask], clock: FakeClock
) -> None:
    app = make_app(**GENEROUS, STAFF_LOGIN_CONFIRM_BY_CODE=True)
    staff = add_staff(app, "staff@example.com")
    # The owner's browser has logged in before: it carries the device cookie.
    owner = client(app, "/cms/login")
    assert _password_then_code_on(app, owner, staff) == 200
    owner.refresh_token("/cms/")
    assert owner.post("/logout").status_code == 200
    # Strangers from five addresses spend the ceiling on the account's log-in codes.
    cap, ceiling = app.config["EMAILCODE_FAILURE_CAP"], app.config["EMAILCODE_FAILURE_CEILING"]
    attempts = app.config["EMAILCODE_MAX_ATTEMPTS"]
    for n in range(ceiling // cap):
        stranger = Api(app.test_client())
        stranger.client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        stranger.refresh_token("/login")
        for _ in range(cap // attempts):
            clock.advance(app.config["EMAILCODE_TTL"])  # a burned slot takes a new code then
            ask(stranger, staff.email)
            settle(app)
            for _ in range(attempts):
                wrong = stranger.post("/login", {"email": staff.email, "code": "ABCDEF"})
                assert wrong.status_code == 400, wrong.get_json()
    late = Api(app.test_client())
    late.client.environ_base["REMOTE_ADDR"] = "198.51.100.99"
    late.refresh_token("/login")
    assert late.post("/login", {"email": staff.email, "code": "ABCDEF"}).status_code == 429
    # The owner's own browser still gets through: its confirmation, a log-in code, a reset.
    owner.refresh_token("/cms/login")
    assert _password_then_code_on(app, owner, staff) == 200
    owner.refresh_token("/cms/")
    assert owner.post("/logout").status_code == 200
    owner.refresh_token("/password/reset")
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"] + 1)
    assert owner.post("/password/reset/code", {"email": staff.email}).status_code == 200
    settle(app)
    reset = {"email": staff.email, "code": last_code(app, staff.email), "password": "fresh pass!"}
    assert owner.post("/password/reset", reset).status_code == 200, "reset refused"


def _password_then_code_on(app: Flask, api: Api, staff: Person) -> int:
    first = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert first.status_code == 200, first.get_json()
    done = api.post("/cms/login", {"email": staff.email, "code": last_code(app, staff.email)})
    return int(done.status_code)
