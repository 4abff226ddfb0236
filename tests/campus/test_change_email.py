"""The CMS change-email flow: every rule of the contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from campus.emailcode import verification_codes
from campus.extensions import db
from campus.models import Account
from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import CODE_LINE, Api, Person, code_in, last_code, letters, log_in, wrong_code
from tests.services import free_port

NEW = "new.address@example.com"


def ask(api: Api, email: str = NEW) -> object:
    return api.post("/cms/email_captcha", {"email": email})


def confirm(api: Api, code: str, email: str = NEW) -> object:
    return api.post("/cms/resetemail", {"email": email, "captcha": code})


def email_of(app: Flask, account_id: int) -> str:
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account is not None
        return account.email


def test_code_changes_the_email(app: Flask, logged_in: Api, staff: Person) -> None:
    sent = ask(logged_in)
    assert sent.status_code == 200
    data = sent.get_json()["data"]
    assert data["resend_after"] == app.config["EMAILCODE_RESEND_COOLDOWN"]
    assert data["expires_in"] == app.config["EMAILCODE_TTL"]
    assert data["delivery"]
    response = confirm(logged_in, last_code(app, NEW))
    assert response.status_code == 200, response.get_json()
    assert email_of(app, staff.id) == NEW
    dashboard = logged_in.client.get("/cms/").get_data(as_text=True)
    assert NEW in dashboard


def test_code_is_accepted_in_any_case_with_spaces_and_dashes(
    app: Flask, logged_in: Api, staff: Person
) -> None:
    ask(logged_in)
    code = last_code(app, NEW)
    assert confirm(logged_in, f"{code[:3].lower()} - {code[3:].lower()}").status_code == 200


def test_anonymous_requests_get_401_and_send_nothing(app: Flask, api: Api) -> None:
    assert ask(api).status_code == 401
    assert confirm(api, "ABCDEF").status_code == 401
    assert letters(app) == []


def test_get_on_email_captcha_is_405_and_sends_nothing(app: Flask, logged_in: Api) -> None:
    response = logged_in.client.get(f"/cms/email_captcha?email={NEW}")
    assert response.status_code == 405
    assert letters(app) == []


@pytest.mark.parametrize("token", ["", "not-a-token"], ids=["missing", "bad"])
def test_csrf_is_required_and_refused_with_an_envelope(
    app: Flask, logged_in: Api, token: str
) -> None:
    logged_in.token = token
    for path in ("/cms/email_captcha", "/cms/resetemail", "/cms/login"):
        response = logged_in.post(path, {"email": NEW, "captcha": "ABCDEF"})
        assert response.status_code == 400
        assert response.get_json()["data"].get("csrf") is True
    assert letters(app) == []


def test_csrf_token_may_come_as_a_form_field(app: Flask, logged_in: Api) -> None:
    token, logged_in.token = logged_in.token, ""
    assert (
        logged_in.post("/cms/email_captcha", {"email": NEW, "csrf_token": token}).status_code == 200
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-an-address",
        "a@b",
        "two@example.com, three@example.com",
        "x@example.com\r\nBcc: victim@example.com",
        "x@example.com\nBcc: victim@example.com",
        '"quoted local"@example.com',
        "Name <x@example.com>",
        "用户@example.com",
        "x@[127.0.0.1]",
        ("a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".com"),
    ],
    ids=[
        "empty",
        "no-at",
        "no-tld",
        "list",
        "crlf-header",
        "lf-header",
        "quoted",
        "display-name",
        "smtputf8",
        "domain-literal",
        "too-long",
    ],
)
def test_invalid_addresses_are_refused_at_both_steps(app: Flask, logged_in: Api, bad: str) -> None:
    for response in (ask(logged_in, bad), confirm(logged_in, "ABCDEF", bad)):
        assert response.status_code == 400
        assert "email" in response.get_json()["data"]["errors"]
    assert letters(app) == []


@pytest.mark.parametrize(
    "variant", [str.lower, str.upper, lambda s: s], ids=["lower", "upper", "same"]
)
def test_the_current_address_is_refused_at_both_steps(
    app: Flask, logged_in: Api, staff: Person, variant: Callable[[str], str]
) -> None:
    address = variant(staff.email)
    for response in (ask(logged_in, address), confirm(logged_in, "ABCDEF", address)):
        assert response.status_code == 400
        assert "email" in response.get_json()["data"]["errors"]
    assert letters(app) == []


def shape(response: Any) -> tuple[int, str, list[str], object]:
    """What a prober sees of an answer, less the opaque delivery id."""
    body = response.get_json()
    return (
        response.status_code,
        body["message"],
        sorted(body["data"]),
        body["data"].get("attempts_left"),
    )


@pytest.mark.parametrize(
    ("ask_path", "confirm_path", "code_name"),
    [
        ("/cms/email_captcha", "/cms/resetemail", "captcha"),
        ("/account/email/code", "/account/email", "code"),
    ],
)
def test_a_taken_address_answers_exactly_like_a_free_one(
    app: Flask, staff: Person, ask_path: str, confirm_path: str, code_name: str
) -> None:
    taken = [add_staff(app, f"owner{n}@example.com").email for n in range(4)]
    free = [f"free{n}@example.com" for n in range(4)]
    api = Api(app.test_client())
    log_in(staff, api)
    if ask_path.startswith("/account"):
        api.refresh_token("/account")

    def probe(address: str) -> list[tuple[int, str, list[str], object]]:
        answers = [shape(api.post(ask_path, {"email": address}))]
        for guess in ("ABCDEF", "GHJKMN"):
            answers.append(shape(api.post(confirm_path, {"email": address, code_name: guess})))
        return answers

    seen_taken = [probe(address) for address in taken]
    seen_free = [probe(address) for address in free]
    assert seen_taken == seen_free
    assert seen_taken[0][0][0] == 200 and seen_taken[0][1][0] == 400
    # Each owner got a notice and no code; the free addresses got codes.
    for address in taken:
        (notice,) = [letter for letter in letters(app) if letter.to == address]
        assert not CODE_LINE.search(notice.text)
        assert "/password/reset" in notice.text
    assert all(len([x for x in letters(app) if x.to == address]) == 1 for address in free)
    assert email_of(app, staff.id) == staff.email


def test_a_taken_address_burns_like_a_wrong_code(app: Flask, logged_in: Api) -> None:
    taken = add_staff(app, "owner@example.com").email
    assert ask(logged_in, taken).status_code == 200
    answers = [confirm(logged_in, "ABCDEF", taken).get_json() for _ in range(6)]
    maximum = app.config["EMAILCODE_MAX_ATTEMPTS"]
    lefts = [answer["data"]["attempts_left"] for answer in answers]
    assert lefts == [*range(maximum - 1, -1, -1), 0]
    # Burned, it says what any burned code says.
    assert answers[-1]["message"] not in {answer["message"] for answer in answers[:-1]}


def test_address_taken_between_the_steps_is_refused(
    app: Flask, logged_in: Api, staff: Person
) -> None:
    ask(logged_in)
    code = last_code(app, NEW)
    add_staff(app, NEW.upper())
    response = confirm(logged_in, code)
    assert response.status_code == 400
    assert email_of(app, staff.id) == staff.email


def test_concurrent_confirmations_of_one_address_leave_one_owner(
    app: Flask, logged_in: Api, staff: Person
) -> None:
    rival = Api(app.test_client())
    log_in(add_staff(app, "rival@example.com"), rival)
    ask(logged_in)
    ask(rival)
    # The mailbox lists newest first: the rival's code, then ours.
    rival_code, our_code = (code_in(letter.text) for letter in letters(app) if letter.to == NEW)
    barrier = threading.Barrier(2)

    def race(client: Api, code: str) -> int:
        barrier.wait()
        return int(confirm(client, code).status_code)

    with ThreadPoolExecutor(2) as pool:
        mine = pool.submit(race, logged_in, our_code)
        theirs = pool.submit(race, rival, rival_code)
        results = [mine.result(), theirs.result()]
    assert sorted(results) == [200, 400]
    with app.app_context():
        owners = db.session.scalar(
            select(func.count()).select_from(Account).where(func.lower(Account.email) == NEW)
        )
    assert owners == 1


def test_wrong_code_reports_tries_left(app: Flask, logged_in: Api) -> None:
    ask(logged_in)
    code = last_code(app, NEW)
    wrong = wrong_code(code)
    response = confirm(logged_in, wrong)
    body = response.get_json()
    assert response.status_code == 400
    left = app.config["EMAILCODE_MAX_ATTEMPTS"] - 1
    assert body["data"]["attempts_left"] == left
    assert str(left) in body["message"]
    assert body["data"]["errors"]["captcha"] == body["message"]


def test_malformed_code_is_refused_without_spending_a_try(app: Flask, logged_in: Api) -> None:
    ask(logged_in)
    response = confirm(logged_in, "ABC")
    assert response.status_code == 400
    assert "captcha" in response.get_json()["data"]["errors"]
    code = last_code(app, NEW)
    wrong = wrong_code(code)
    left = confirm(logged_in, wrong).get_json()["data"]["attempts_left"]
    assert left == app.config["EMAILCODE_MAX_ATTEMPTS"] - 1


def test_expired_code_is_refused(app: Flask, logged_in: Api, clock: FakeClock) -> None:
    ask(logged_in)
    clock.advance(app.config["EMAILCODE_TTL"])
    response = confirm(logged_in, last_code(app, NEW))
    assert response.status_code == 400
    assert response.get_json()["data"]["attempts_left"] == 0
    assert email_of(app, 1) != NEW


def test_burned_code_is_refused_even_when_right(app: Flask, logged_in: Api, staff: Person) -> None:
    ask(logged_in)
    code = last_code(app, NEW)
    wrong = wrong_code(code)
    messages = [confirm(logged_in, wrong).get_json()["message"] for _ in range(5)]
    final = confirm(logged_in, code)
    assert final.status_code == 400
    assert final.get_json()["message"] not in messages
    assert email_of(app, staff.id) == staff.email


def test_cooldown_answers_429_with_retry_after(
    app: Flask, logged_in: Api, clock: FakeClock
) -> None:
    ask(logged_in)
    clock.advance(15)
    response = ask(logged_in)
    assert response.status_code == 429
    wait = app.config["EMAILCODE_RESEND_COOLDOWN"] - 15
    assert response.headers["Retry-After"] == str(wait)
    assert response.get_json()["data"]["retry_after"] == wait
    assert len(letters(app)) == 1


def live_codes(app: Flask) -> int:
    """How many codes in the database could still be spent."""
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(verification_codes)
            .where(verification_codes.c.state == "live")
        )
    return int(count or 0)


def test_success_voids_other_codes_and_renews_the_session(
    app: Flask, logged_in: Api, staff: Person
) -> None:
    other_device = Api(app.test_client())
    log_in(staff, other_device)
    ask(logged_in, "first@example.com")
    first = last_code(app, "first@example.com")
    ask(logged_in)
    cookie_before = logged_in.client.get_cookie("session")
    assert cookie_before is not None
    assert confirm(logged_in, last_code(app, NEW)).status_code == 200
    # The other outstanding code is void now.
    refused = confirm(logged_in, first, "first@example.com")
    assert refused.status_code == 400
    assert live_codes(app) == 0
    # This session was renewed and still works; the old cookie and other devices do not.
    cookie_after = logged_in.client.get_cookie("session")
    assert cookie_after is not None and cookie_after.value != cookie_before.value
    assert logged_in.client.get("/cms/").status_code == 200
    assert other_device.client.get("/cms/").status_code == 302
    stale = app.test_client()
    stale.set_cookie("session", cookie_before.value)
    assert stale.get("/cms/").status_code == 302


def test_mail_failure_answers_503_and_leaves_no_valid_code(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=2)
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    response = ask(api)
    assert response.status_code == 503
    assert "ConnectionRefusedError" in caplog.text  # the cause is logged, not swallowed
    assert live_codes(app) == 0
    # Nothing was delivered, so no cooldown holds the next try back.
    assert ask(api).status_code == 503


@pytest.mark.parametrize(
    ("language", "cjk"),
    [(None, True), ("zh-CN,zh;q=0.9", True), ("en-US,en;q=0.8", False), ("fr", True)],
)
def test_messages_follow_accept_language_with_chinese_by_default(
    app: Flask, staff: Person, language: str | None, cjk: bool
) -> None:
    api = Api(app.test_client(), language)
    log_in(staff, api)
    message = ask(api, "bad").get_json()["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message) is cjk


def test_json_bodies_work_like_forms(app: Flask, logged_in: Api) -> None:
    sent = logged_in.post("/cms/email_captcha", json={"email": NEW})
    assert sent.status_code == 200
    code = last_code(app, NEW)
    done = logged_in.post("/cms/resetemail", json={"email": NEW, "captcha": code})
    assert done.status_code == 200


@pytest.mark.parametrize("body", ['["a@example.com"]', '"text"', "{not json", "null"])
def test_json_that_is_not_an_object_is_bad_input(app: Flask, logged_in: Api, body: str) -> None:
    response = logged_in.post(
        "/cms/email_captcha", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert letters(app) == []


def test_stale_login_must_confirm_the_password(
    app: Flask, logged_in: Api, staff: Person, clock: FakeClock
) -> None:
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    for response in (ask(logged_in), confirm(logged_in, "ABCDEF")):
        assert response.status_code == 401
        assert response.get_json()["data"]["reauth"] is True
    assert letters(app) == []
    wrong = logged_in.post("/reauth", {"password": "not the password"})
    assert wrong.status_code == 400
    assert ask(logged_in).status_code == 401
    assert logged_in.post("/reauth", {"password": staff.password}).status_code == 200
    assert ask(logged_in).status_code == 200
    assert confirm(logged_in, last_code(app, NEW)).status_code == 200


def test_a_login_within_the_window_needs_no_password(
    app: Flask, logged_in: Api, clock: FakeClock
) -> None:
    clock.advance(app.config["REAUTH_MAX_AGE"] - 5)
    assert ask(logged_in).status_code == 200


def test_reauth_needs_a_login(api: Api) -> None:
    assert api.post("/reauth", {"password": "whatever"}).status_code == 401


def test_in_process_delivery_reports_sent_to_its_requester(app: Flask, logged_in: Api) -> None:
    delivery = ask(logged_in).get_json()["data"]["delivery"]
    response = logged_in.client.get(f"/cms/email_captcha/{delivery}")
    assert response.status_code == 200
    assert response.get_json()["data"]["status"] == "sent"
    other = Api(app.test_client())
    log_in(add_staff(app, "other@example.com"), other)
    assert other.client.get(f"/cms/email_captcha/{delivery}").status_code == 404


@pytest.mark.parametrize(
    "ask_path", ["/cms/email_captcha", "/account/email/code", "/account/emails/code"]
)
def test_a_taken_address_answers_every_field_like_a_free_one_on_every_ask(
    app: Flask, staff: Person, clock: FakeClock, ask_path: str
) -> None:
    """Not just the first answer: a second ask after the cooldown counts the earlier code
    still alive the same way, whether that code was mailed or nobody was sent it."""
    taken = add_staff(app, "owner@example.com").email
    api = Api(app.test_client())
    log_in(staff, api)
    if ask_path.startswith("/account"):
        api.refresh_token("/account")

    def answers(address: str) -> list[tuple[int, str, dict[str, Any]]]:
        seen = []
        for _ in range(3):
            response = api.post(ask_path, {"email": address})
            data = {k: v for k, v in response.get_json()["data"].items() if k != "delivery"}
            seen.append((response.status_code, response.get_json()["message"], data))
            clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"] + 1)
        return seen

    on_taken, on_free = answers(taken), answers("free@example.com")
    assert on_taken == on_free
    assert [data.get("earlier_codes") for _, _, data in on_free] == [0, 1, 2]
