"""Sign-up, password reset and members' email change, by emailed code."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from campus.emailcode import policy as emailcode_policy
from campus.extensions import db
from campus.flows import by_address, signup
from campus.models import Account, Role
from tests.app_fixtures import add_staff
from tests.helpers import (
    CODE_LINE,
    PASSWORD,
    Api,
    code_in,
    last_code,
    letters,
    log_in,
    member,
    settle,
    wrong_code,
)

NEW = "newcomer@example.com"
NEW_PASSWORD = "a brand new passphrase"


def accounts_with(app: Flask, email: str) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count()).select_from(Account).where(func.lower(Account.email) == email)
            )
            or 0
        )


def test_sign_up_creates_a_member_only_after_the_code(app: Flask, api: Api) -> None:
    assert api.post("/signup/code", {"email": NEW}).status_code == 200
    code = last_code(app, NEW)
    assert accounts_with(app, NEW) == 0
    wrong = wrong_code(code)
    refused = api.post("/signup", {"email": NEW, "code": wrong, "password": NEW_PASSWORD})
    assert refused.status_code == 400 and "code" in refused.get_json()["data"]["errors"]
    assert accounts_with(app, NEW) == 0
    done = api.post("/signup", {"email": NEW, "code": code, "password": NEW_PASSWORD})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["data"]["next"] == "/account"
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.email == NEW))
        assert account is not None and account.role == Role.MEMBER
        assert account.password_hash.startswith("$argon2id$")
    page = api.client.get("/account")
    assert page.status_code == 200 and NEW in page.get_data(as_text=True)
    assert api.client.get("/cms/").status_code == 403  # members stay out of the CMS


@pytest.mark.parametrize("password", ["short", NEW, NEW.upper()])
def test_sign_up_refuses_weak_passwords_without_spending_the_code(
    app: Flask, api: Api, password: str
) -> None:
    api.post("/signup/code", {"email": NEW})
    code = last_code(app, NEW)
    weak = api.post("/signup", {"email": NEW, "code": code, "password": password})
    assert weak.status_code == 400 and "password" in weak.get_json()["data"]["errors"]
    ok = api.post("/signup", {"email": NEW, "code": code, "password": NEW_PASSWORD})
    assert ok.status_code == 200


def test_two_sign_ups_racing_for_one_address_end_with_one_account(app: Flask, api: Api) -> None:
    api.post("/signup/code", {"email": NEW})
    code = last_code(app, NEW)
    rivals = [Api(app.test_client()) for _ in range(4)]
    for rival in rivals:
        rival.refresh_token("/signup")
    barrier = threading.Barrier(len(rivals))

    def race(rival: Api) -> int:
        barrier.wait()
        body = {"email": NEW, "code": code, "password": NEW_PASSWORD}
        return int(rival.post("/signup", body).status_code)

    with ThreadPoolExecutor(len(rivals)) as pool:
        results = list(pool.map(race, rivals))
    assert results.count(200) == 1
    assert accounts_with(app, NEW) == 1


def test_sign_up_to_a_taken_address_tells_its_owner_and_sends_no_code(app: Flask, api: Api) -> None:
    owner = member(app)
    known = api.post("/signup/code", {"email": owner.email})
    unknown = api.post("/signup/code", {"email": NEW})
    assert known.status_code == unknown.status_code == 200
    assert known.get_json() == unknown.get_json()
    notices = letters(app, owner.email)
    assert len(notices) == 1
    assert not CODE_LINE.search(notices[0].text)
    assert f"{app.config['PUBLIC_URL']}/password/reset" in notices[0].text
    assert notices[0].subject != letters(app, NEW)[0].subject


def test_reset_for_an_unknown_address_sends_nothing(app: Flask, api: Api) -> None:
    owner = member(app)
    known = api.post("/password/reset/code", {"email": owner.email})
    unknown = api.post("/password/reset/code", {"email": NEW})
    assert known.status_code == unknown.status_code == 200
    assert known.get_json() == unknown.get_json()
    assert letters(app, NEW) == []
    assert len(letters(app, owner.email)) == 1


def test_guesses_are_answered_alike_for_known_and_unknown_addresses(app: Flask, api: Api) -> None:
    owner = member(app)
    answers = []
    for address in (owner.email, NEW):
        api.post("/password/reset/code", {"email": address})
        settle(app)
        body = {"email": address, "code": "ABCDEF", "password": NEW_PASSWORD}
        answers.append(api.post("/password/reset", body).get_json())
    assert answers[0] == answers[1]
    assert answers[0]["data"]["attempts_left"] == app.config["EMAILCODE_MAX_ATTEMPTS"] - 1


@pytest.mark.parametrize(
    ("path", "flow"),
    [
        ("/signup/code", signup),
        ("/password/reset/code", by_address),  # where reset and log-in by code look up
        ("/login/code", by_address),
    ],
)
def test_the_answer_is_given_before_the_address_is_looked_up(
    app: Flask, monkeypatch: pytest.MonkeyPatch, path: str, flow: Any
) -> None:
    """Known and unknown addresses take the same time because the answer never waits for
    the look-up: here the look-up is held until after both answers have arrived."""
    known = member(app, "known@example.com").email
    looked_up: list[str] = []
    release = threading.Event()
    find = flow.find_by_email

    def held_lookup(email: str) -> Any:
        assert release.wait(10), "the look-up was never released"
        looked_up.append(email)
        return find(email)

    monkeypatch.setattr(flow, "find_by_email", held_lookup)
    api = Api(app.test_client())
    api.refresh_token("/signup")
    answers = [api.post(path, {"email": address}) for address in (known, "unknown@example.com")]
    assert looked_up == []  # both answered while neither address had been looked up
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].get_json() == answers[1].get_json()
    release.set()
    settle(app)
    assert sorted(looked_up) == sorted([known, "unknown@example.com"])


def test_reset_sets_the_password_ends_sessions_voids_codes_and_tells_the_owner(
    app: Flask, api: Api
) -> None:
    owner = member(app)
    elsewhere = log_in(owner, app)
    assert elsewhere.post("/account/email/code", {"email": "moving@example.com"}).status_code == 200
    change_code = last_code(app, "moving@example.com")
    api.post("/password/reset/code", {"email": owner.email})
    code = last_code(app, owner.email)
    done = api.post(
        "/password/reset", {"email": owner.email, "code": code, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.get_json()
    assert elsewhere.client.get("/account").status_code == 302  # logged out
    fresh = log_in(owner, app, password=NEW_PASSWORD)
    old = Api(app.test_client())
    old.refresh_token("/login")
    assert old.post("/login", {"email": owner.email, "password": PASSWORD}).status_code == 400
    stale = fresh.post("/account/email", {"email": "moving@example.com", "code": change_code})
    assert stale.status_code == 400  # the outstanding code died with the old password
    notices = [m for m in letters(app, owner.email) if not CODE_LINE.search(m.text)]
    assert len(notices) == 1 and notices[0].html


def test_a_member_changes_email_by_code(app: Flask) -> None:
    owner = member(app)
    api = log_in(owner, app)
    assert api.post("/account/email/code", {"email": NEW}).status_code == 200
    done = api.post("/account/email", {"email": NEW, "code": last_code(app, NEW)})
    assert done.status_code == 200, done.get_json()
    assert NEW in api.client.get("/account").get_data(as_text=True)
    assert len(letters(app, owner.email)) == 1  # the old address is told


def test_members_change_email_under_the_same_rules(app: Flask, clock: Any) -> None:
    owner = member(app)
    api = log_in(owner, app)
    assert api.post("/account/email/code", {"email": owner.email.upper()}).status_code == 400
    assert (
        api.post(
            "/account/email/code", {"email": "x@example.com\r\nBcc: y@example.com"}
        ).status_code
        == 400
    )
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    stale = api.post("/account/email/code", {"email": NEW})
    assert stale.status_code == 401 and stale.get_json()["data"]["reauth"] is True


# Each flow's code, tried at every other flow's endpoint: always refused.
FLOWS = {
    "sign_up": ("/signup", lambda a: {"password": NEW_PASSWORD}),
    "reset_password": ("/password/reset", lambda a: {"password": NEW_PASSWORD}),
    "member_change_email": ("/account/email", lambda a: {}),
    "cms_change_email": ("/cms/resetemail", lambda a: {}),
}


def test_a_code_for_one_purpose_is_useless_for_every_other(app: Flask) -> None:
    owner = member(app)
    staff = add_staff(app, "staff@example.com")
    visitor = Api(app.test_client())
    visitor.refresh_token("/signup")
    mover = member(app, "mover@example.com")  # not the reset's owner: a reset ends sessions
    as_member, as_staff = log_in(mover, app), Api(app.test_client())
    log_in(staff, as_staff)
    clients = {
        "sign_up": visitor,
        "reset_password": Api(app.test_client()),
        "member_change_email": as_member,
        "cms_change_email": as_staff,
    }
    clients["reset_password"].refresh_token("/password/reset")
    visitor.post("/signup/code", {"email": "x1@example.com"})
    clients["reset_password"].post("/password/reset/code", {"email": owner.email})
    as_member.post("/account/email/code", {"email": "x2@example.com"})
    as_staff.post("/cms/email_captcha", {"email": "x3@example.com"})
    issued = {
        "sign_up": ("x1@example.com", last_code(app, "x1@example.com")),
        "reset_password": (owner.email, last_code(app, owner.email)),
        "member_change_email": ("x2@example.com", last_code(app, "x2@example.com")),
        "cms_change_email": ("x3@example.com", last_code(app, "x3@example.com")),
    }
    for source, (address, code) in issued.items():
        for target, (path, extra) in FLOWS.items():
            if target == source:
                continue
            field = "captcha" if target == "cms_change_email" else "code"
            body = {"email": address, field: code, **extra(address)}
            response = clients[target].post(path, body)
            assert response.status_code == 400, (source, target, response.get_json())
    # Every code still works where it belongs: the refusals spent nothing.
    for source, (address, code) in issued.items():
        path, extra = FLOWS[source]
        field = "captcha" if source == "cms_change_email" else "code"
        response = clients[source].post(path, {"email": address, field: code, **extra(address)})
        assert response.status_code == 200, (source, response.get_json())


@pytest.mark.parametrize(
    "path", ["/signup/code", "/signup", "/password/reset/code", "/password/reset", "/login"]
)
def test_member_endpoints_need_the_csrf_token(app: Flask, path: str) -> None:
    api = Api(app.test_client())
    api.token = ""
    response = api.post(path, {"email": NEW, "code": "ABCDEF", "password": NEW_PASSWORD})
    assert response.status_code == 400 and response.get_json()["data"]["csrf"] is True
    assert letters(app, NEW) == []


@pytest.mark.parametrize("path", ["/signup/code", "/password/reset/code"])
def test_member_code_requests_share_the_limits(make_app: Callable[..., Flask], path: str) -> None:
    app = make_app(EMAILCODE_LIMIT_PER_IP="2/hour")
    api = Api(app.test_client())
    api.refresh_token("/signup")
    assert api.post(path, {"email": "a@example.com"}).status_code == 200
    assert api.post(path, {"email": "b@example.com"}).status_code == 200
    limited = api.post(path, {"email": "c@example.com"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("path", "kind"), [("/signup/code", "sign_up"), ("/password/reset/code", "reset_password")]
)
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_each_purpose_mails_in_the_requesters_language_with_its_own_subject(
    app: Flask, path: str, kind: str, language: str
) -> None:
    from flask_babel import force_locale
    from flask_babel import gettext as _

    address = member(app).email if kind == "reset_password" else NEW
    api = Api(app.test_client(), language)
    api.refresh_token("/signup")
    assert api.post(path, {"email": address}).status_code == 200
    letter = letters(app, address)[0]
    assert CODE_LINE.search(letter.text) and letter.html
    cjk = any("\u4e00" <= ch <= "\u9fff" for ch in letter.text)
    assert cjk is (language != "en")
    subjects = {
        "sign_up": "Campus forum sign-up code",
        "reset_password": "Campus forum password reset code",
    }
    with app.test_request_context(), force_locale("en" if language == "en" else "zh"):
        fixed = _(subjects[kind])
    # Sign-up's code is in its subject; a reset's stays out of it, and the time sent is there.
    code = code_in(letter.text)
    assert letter.subject.startswith(fixed) and letter.subject != fixed
    assert (code in letter.subject) is (kind == "sign_up")


def test_a_stranger_cannot_lock_the_owner_out_of_password_reset(
    make_app: Callable[..., Flask], clock: Any
) -> None:
    app = make_app(EMAILCODE_LIMIT_PER_ADDRESS="1000/hour", EMAILCODE_LIMIT_PER_IP="1000/hour")
    owner = member(app)
    with app.app_context():
        policy = emailcode_policy()
    stranger = Api(app.test_client())
    stranger.client.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    stranger.refresh_token("/password/reset")
    guess = {"email": owner.email, "code": "ABCDEF", "password": NEW_PASSWORD}
    for _ in range(policy.failure_cap // policy.max_attempts):
        assert stranger.post("/password/reset/code", {"email": owner.email}).status_code == 200
        settle(app)
        for _ in range(policy.max_attempts):
            assert stranger.post("/password/reset", guess).status_code == 400
        clock.advance(policy.ttl)  # the burned slot takes a new code once its failures age out
    # The stranger has spent their whole budget ...
    limited = stranger.post("/password/reset", guess)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 3600
    # ... and the owner, on another network, still gets a code and resets.
    before = len(letters(app, owner.email))
    mine = Api(app.test_client())
    mine.client.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    mine.refresh_token("/password/reset")
    assert mine.post("/password/reset/code", {"email": owner.email}).status_code == 200
    letters_now = letters(app, owner.email)
    assert len(letters_now) == before + 1
    code = code_in(letters_now[0].text)
    done = mine.post(
        "/password/reset", {"email": owner.email, "code": code, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.get_json()


@pytest.mark.parametrize("ask_path", ["/login/code", "/password/reset/code", "/signup/code"])
def test_a_known_address_that_refuses_mail_answers_like_an_unknown_one(
    make_app: Callable[..., Flask], clock: Any, ask_path: str
) -> None:
    """A bounce voids the code it carried, but leaves the cooldown (and so the mailbox's
    budget) running as for a code nobody was sent: the answers over an hour are alike."""
    from tests.smtp_server import smtp_server

    with smtp_server("plain") as (port, inbox):
        inbox.rcpt_reply = "550 5.1.1 no such mailbox"  # every address bounces
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, EMAILCODE_LIMIT_PER_IP="1000/hour")
        known = add_staff(app, "known@example.com").email

        def answers(address: str) -> list[tuple[int, Any]]:
            seen = []
            for step in (0, 5, 5, 60, 5, 60, 60, 60, 60, 60):
                clock.advance(step)
                api = Api(app.test_client())
                api.refresh_token("/login")
                response = api.post(ask_path, {"email": address})
                settle(app)
                seen.append((response.status_code, response.get_json()["data"]))
            return seen

        on_known, on_unknown = answers(known), answers("nobody@example.com")
    assert on_known == on_unknown
    assert {status for status, _ in on_known} == {200, 429}  # the budget was reached
