"""A second address that outlives the campus mailbox: add by code, make primary, remove."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from flask import Flask

from campus.extensions import db
from campus.models import Account
from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import (
    CODE_LINE,
    Api,
    Person,
    last_code,
    letters,
    log_in,
    member,
    settle,
    wrong_code,
)

HOME = "home@gmail.com"


def add(api: Api, app: Flask, address: str) -> Api:
    assert api.post("/account/emails/code", {"email": address}).status_code == 200
    done = api.post("/account/emails", {"email": address, "code": last_code(app, address)})
    assert done.status_code == 200, done.get_json()
    return api


def addresses_of(app: Flask, who: Person) -> list[str]:
    with app.app_context():
        account = db.session.get(Account, who.id)
        assert account is not None
        return account.verified_addresses


def notices_to(app: Flask, to: str) -> list[str]:
    settle(app)
    return [letter.text for letter in letters(app, to) if not CODE_LINE.search(letter.text)]


def test_an_address_is_added_by_a_code_sent_to_it_and_every_address_is_told(app: Flask) -> None:
    owner = member(app, "student@campus.edu.cn")
    api = add(log_in(owner, app), app, HOME)
    assert addresses_of(app, owner) == [owner.email, HOME]
    page = api.client.get("/account/emails").get_data(as_text=True)
    assert owner.email in page and HOME in page
    assert len(notices_to(app, owner.email)) == 1 and len(notices_to(app, HOME)) == 1


def test_any_verified_address_logs_in_and_resets_the_password(app: Flask) -> None:
    owner = member(app, "student@campus.edu.cn")
    add(log_in(owner, app), app, HOME)
    assert log_in(replace(owner, email=HOME), app).client.get("/account").status_code == 200
    stranger = Api(app.test_client())
    stranger.refresh_token("/password/reset")
    stranger.post("/password/reset/code", {"email": HOME})
    code = last_code(app, HOME)  # the reset code goes to the address typed
    body = {"email": HOME, "code": code, "password": "a brand new passphrase"}
    assert stranger.post("/password/reset", body).status_code == 200
    # The notice of the new password goes to both addresses.
    assert len(notices_to(app, owner.email)) == 2 and len(notices_to(app, HOME)) == 2


def test_the_primary_moves_and_the_campus_rule_applies_to_it(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SIGNUP_ALLOWED_DOMAINS="campus.edu.cn")
    owner = member(app, "student@campus.edu.cn")
    api = add(log_in(owner, app), app, HOME)  # any address may be a second one
    refused = api.post("/account/emails/primary", {"email": HOME})
    assert refused.status_code == 400 and "campus.edu.cn" in refused.get_json()["message"]
    add(api, app, "alumni@campus.edu.cn")
    assert api.post("/account/emails/primary", {"email": "alumni@campus.edu.cn"}).status_code == 200
    assert addresses_of(app, owner)[0] == "alumni@campus.edu.cn"
    notices = notices_to(app, "student@campus.edu.cn")
    assert any("a***i@campus.edu.cn" in text for text in notices)


def test_the_primary_stays_and_a_removed_address_is_told_and_logs_in_no_more(app: Flask) -> None:
    owner = member(app, "student@campus.edu.cn")
    api = add(log_in(owner, app), app, HOME)
    stays = api.post("/account/emails/remove", {"email": owner.email})
    assert stays.status_code == 400 and "email" in stays.get_json()["data"]["errors"]
    assert api.post("/account/emails/remove", {"email": "x@example.com"}).status_code == 400
    assert api.post("/account/emails/remove", {"email": HOME}).status_code == 200
    assert addresses_of(app, owner) == [owner.email]
    assert len(notices_to(app, HOME)) == 2  # added, then removed
    gone = Api(app.test_client())
    gone.refresh_token("/login")
    assert gone.post("/login", {"email": HOME, "password": owner.password}).status_code == 400


def test_three_addresses_at_most_and_no_throwaway(app: Flask) -> None:
    owner = member(app)
    api = log_in(owner, app)
    add(add(api, app, "two@example.com"), app, "three@example.com")
    full = api.post("/account/emails/code", {"email": "four@example.com"})
    assert full.status_code == 400 and "3" in full.get_json()["message"]
    api.post("/account/emails/remove", {"email": "three@example.com"})
    throwaway = api.post("/account/emails/code", {"email": "me@mailinator.com"})
    assert throwaway.status_code == 400
    settle(app)
    assert letters(app, "four@example.com") == letters(app, "me@mailinator.com") == []


def test_an_address_another_account_holds_answers_like_a_free_one(
    app: Flask, clock: FakeClock
) -> None:
    holder = member(app, "holder@example.com")
    add(log_in(holder, app), app, HOME)
    owner = member(app, "owner@example.com")
    api = log_in(owner, app)
    taken = api.post("/account/emails/code", {"email": HOME}).get_json()
    free = api.post("/account/emails/code", {"email": "free@example.com"}).get_json()
    assert {**taken["data"], "delivery": ""} == {**free["data"], "delivery": ""}
    assert taken["message"] == free["message"]
    # Its owner hears of it; no code goes anywhere for it.
    before = 3  # to HOME so far: the code that added it, the notice of that, and now this
    newest = letters(app, HOME)
    assert len(newest) == before and not CODE_LINE.search(newest[0].text)
    assert f"{app.config['PUBLIC_URL']}/password/reset" in newest[0].text
    guess = api.post("/account/emails", {"email": HOME, "code": wrong_code("ABCDEF")})
    assert guess.status_code == 400 and guess.get_json()["data"]["attempts_left"] == 4
    assert addresses_of(app, owner) == [owner.email]


def test_changing_addresses_needs_a_recent_log_in(app: Flask, clock: FakeClock) -> None:
    owner = member(app)
    api = add(log_in(owner, app), app, HOME)
    clock.advance(app.config["REAUTH_MAX_AGE"] + 1)
    for path in ("/account/emails/primary", "/account/emails/remove", "/account/emails/code"):
        answer = api.post(path, {"email": HOME})
        assert answer.status_code == 401 and answer.get_json()["data"]["reauth"] is True
    assert api.post("/reauth", {"password": owner.password}).status_code == 200
    assert api.post("/account/emails/primary", {"email": HOME}).status_code == 200


def test_the_cms_dashboard_lists_a_staff_members_addresses(app: Flask) -> None:
    staff = add_staff(app, "staff@example.com")
    api = add(log_in(staff, app), app, HOME)
    page = api.client.get("/cms/").get_data(as_text=True)
    assert f'data-address="{staff.email}"' in page and f'data-address="{HOME}"' in page


def test_two_additions_racing_for_the_last_place_leave_three_addresses(app: Flask) -> None:
    owner = member(app)
    first = add(log_in(owner, app), app, HOME)  # two addresses: one place left
    second = log_in(owner, app)
    candidates = ["left@example.com", "right@example.com"]
    for api, address in zip((first, second), candidates, strict=True):
        assert api.post("/account/emails/code", {"email": address}).status_code == 200
    bodies = [{"email": a, "code": last_code(app, a)} for a in candidates]
    barrier = threading.Barrier(2)

    def race(pair: tuple[Api, dict[str, str]]) -> int:
        barrier.wait()
        return int(pair[0].post("/account/emails", pair[1]).status_code)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = sorted(pool.map(race, zip((first, second), bodies, strict=True)))
    assert answers == [200, 400]
    assert len(addresses_of(app, owner)) == 3


def primaries(app: Flask, who: Person) -> tuple[list[str], str]:
    with app.app_context():
        account = db.session.get(Account, who.id)
        assert account is not None
        return [row.email for row in account.addresses if row.is_primary], account.email


def test_racing_make_primary_and_remove_always_leave_one_primary(app: Flask) -> None:
    """Each round, one browser makes the second address primary while another removes
    it; whichever wins, the account keeps exactly one primary, the one it names."""
    owner = member(app, "student@example.com")
    promoter, remover = log_in(owner, app), log_in(owner, app)
    current = owner.email
    for n in range(8):
        second = f"second{n}@example.com"
        add(promoter, app, second)
        remover.refresh_token("/account/emails")
        barrier = threading.Barrier(2)
        jobs = [
            (barrier, promoter, "/account/emails/primary", second),
            (barrier, remover, "/account/emails/remove", second),
        ]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(_race, jobs))
        assert set(answers) <= {200, 400}, answers
        found, named = primaries(app, owner)
        assert found == [named], (n, answers, found, named)
        assert named in (current, second)
        current = named
        for api in (promoter, remover):
            api.refresh_token("/account/emails")
            assert api.client.get("/account/emails").status_code == 200
        if named == second:  # the old primary is the second address now: remove it
            old = [a for a in addresses_of(app, owner) if a != named]
            for address in old:
                assert (
                    promoter.post("/account/emails/remove", {"email": address}).status_code == 200
                )


def _race(job: tuple[threading.Barrier, Api, str, str]) -> int:
    barrier, api, path, address = job
    barrier.wait()
    return int(api.post(path, {"email": address}).status_code)
