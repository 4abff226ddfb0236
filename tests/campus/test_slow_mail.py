"""Slow mail that still works: earlier codes stay alive, and each mail says when it was sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from campus.settings import ConfigError
from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import Api, Person, code_in, letters, log_in, member, settle

NEW = "moving@example.com"


def ask(api: Api) -> dict[str, int]:
    response = api.post("/cms/email_captcha", {"email": NEW})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json()["data"])


def codes_to(app: Flask, to: str) -> list[str]:
    """Every code mailed to ``to``, oldest first."""
    return [code_in(letter.text) for letter in reversed(letters(app, to))]


def test_a_code_that_arrives_late_still_works_after_a_resend(
    app: Flask, logged_in: Api, staff: Person, clock: FakeClock
) -> None:
    assert ask(logged_in)["earlier_codes"] == 0
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    assert ask(logged_in)["earlier_codes"] == 1  # the page says the first code still works
    first, second = codes_to(app, NEW)
    done = logged_in.post("/cms/resetemail", {"email": NEW, "captcha": first})
    assert done.status_code == 200, done.get_json()
    # Spending one spent both.
    relogged = log_in(replace(staff, email=NEW), Api(app.test_client()))
    again = relogged.post("/cms/resetemail", {"email": "x@example.com", "captcha": second})
    assert again.status_code == 400


def test_the_fourth_code_retires_the_first(app: Flask, logged_in: Api, clock: FakeClock) -> None:
    for _ in range(4):
        ask(logged_in)
        clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    first = codes_to(app, NEW)[0]
    if first in codes_to(app, NEW)[1:]:
        return  # the same code drawn twice: nothing to tell apart
    refused = logged_in.post("/cms/resetemail", {"email": NEW, "captcha": first})
    assert refused.status_code == 400 and refused.get_json()["data"]["attempts_left"] == 4


@pytest.mark.parametrize(
    ("language", "hour", "zone"),
    [("zh-CN", "%H:%M:%S", "中国标准时间"), ("en", "%-I:%M:%S", "China Standard Time")],
)
def test_each_code_mail_says_when_it_was_sent_in_the_sites_time_zone(
    app: Flask, staff: Person, clock: FakeClock, language: str, hour: str, zone: str
) -> None:
    api = log_in(staff, Api(app.test_client(), language))
    ask(api)
    (letter,) = letters(app, NEW)
    sent = datetime.fromtimestamp(clock.now, UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    for part in (letter.text, letter.html):
        assert sent.strftime(hour) in part and zone in part


def test_the_site_time_zone_is_a_setting(make_app: Callable[..., Flask], clock: FakeClock) -> None:
    app = make_app(SITE_TIMEZONE="Europe/Berlin")
    api = log_in(add_staff(app, "staff@example.com"), Api(app.test_client(), "en"))
    ask(api)
    (letter,) = letters(app, NEW)
    sent = datetime.fromtimestamp(clock.now, UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert sent.strftime("%-I:%M:%S") in letter.text
    assert "Central European" in letter.text


def test_no_two_code_mails_share_a_subject(app: Flask, logged_in: Api, clock: FakeClock) -> None:
    ask(logged_in)
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    ask(logged_in)
    first, second = reversed(letters(app, NEW))
    assert first.subject != second.subject
    # Changing the email shows the code in the subject.
    assert first.subject.endswith(code_in(first.text))


def test_a_reset_code_stays_out_of_the_subject_which_carries_the_time(
    app: Flask, api: Api, clock: FakeClock
) -> None:
    owner = member(app)
    api.refresh_token("/password/reset")
    subjects = []
    for _ in range(2):
        api.post("/password/reset/code", {"email": owner.email})
        settle(app)
        subjects.append(letters(app, owner.email)[0].subject)
        clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    code = code_in(letters(app, owner.email)[0].text)
    assert code not in subjects[1]
    sent = datetime.fromtimestamp(clock.now - 60, UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert sent.strftime("%H:%M:%S") in subjects[1]
    assert subjects[0] != subjects[1]


@pytest.mark.parametrize(
    ("setting", "change_email", "reset"),
    [("false", False, False), ("true", True, True), ("reset_password", False, True)],
)
def test_the_code_in_the_subject_follows_the_setting(
    make_app: Callable[..., Flask], setting: str, change_email: bool, reset: bool
) -> None:
    app = make_app(EMAILCODE_CODE_IN_SUBJECT=setting)
    staff = add_staff(app, "staff@example.com")
    ask(log_in(staff, Api(app.test_client())))
    stranger = Api(app.test_client())
    stranger.refresh_token("/password/reset")
    stranger.post("/password/reset/code", {"email": staff.email})
    for to, expected in ((NEW, change_email), (staff.email, reset)):
        (letter,) = letters(app, to)
        assert (code_in(letter.text) in letter.subject) is expected


@pytest.mark.parametrize(
    "config",
    [{"SITE_TIMEZONE": "Mars/Olympus"}, {"EMAILCODE_CODE_IN_SUBJECT": "sign_up,lunch"}],
)
def test_a_bad_setting_stops_the_app(
    make_app: Callable[..., Flask], config: dict[str, str]
) -> None:
    with pytest.raises(ConfigError):
        make_app(**config)
