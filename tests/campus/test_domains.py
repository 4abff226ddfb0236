"""Campus-only sign-up and no throwaway mailboxes: refused by domain, before any mail."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from campus.settings import ConfigError, allowed_domains
from campus.support.addresses import parse_address
from campus.support.domains import domain_of, is_disposable, matches
from tests.app_fixtures import add_staff
from tests.helpers import Api, letters, log_in, member, settle

CAMPUS = "campus.edu.cn, *.mail.校园.中国"


@pytest.mark.parametrize(
    ("typed", "allowed"),
    [
        ("a@campus.edu.cn", True),
        ("a@CAMPUS.EDU.CN", True),
        ("a@dept.campus.edu.cn", False),  # exactly that domain, not its subdomains
        ("a@evilcampus.edu.cn", False),
        ("a@campus.edu.cn.evil.com", False),
        ("a@mail.校园.中国", True),  # the base of a wildcard, in Chinese
        ("a@MAIL.xn--fcs331b.xn--fiqs8s", True),  # the same, in punycode
        ("a@x.Mail.校园.中国", True),
        ("a@校园.中国", False),
        ("a@xmail.校园.中国", False),
    ],
)
def test_domains_match_whatever_the_spelling(typed: str, allowed: bool) -> None:
    patterns = allowed_domains(CAMPUS + ", ")
    assert matches(domain_of(parse_address(typed)), patterns) is allowed


def test_the_setting_is_folded_like_an_address() -> None:
    assert allowed_domains("CAMPUS.edu.cn., *.校园.中国") == (
        "campus.edu.cn",
        "*.xn--fcs331b.xn--fiqs8s",
    )
    for bad in ("localhost", "*.", "bad..name.cn"):
        with pytest.raises(ConfigError):
            allowed_domains(bad)


def test_throwaway_domains_come_from_the_maintained_list() -> None:
    assert is_disposable("mailinator.com") and is_disposable("x.mailinator.com")
    assert not is_disposable("gmail.com") and not is_disposable("campus.edu.cn")


def sign_up(app: Flask, address: str, language: str | None = None) -> tuple[int, dict[str, str]]:
    api = Api(app.test_client(), language)
    api.refresh_token("/signup")
    response = api.post("/signup/code", {"email": address})
    settle(app)
    return response.status_code, response.get_json()


def test_sign_up_outside_the_campus_is_refused_before_any_mail(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    member(app, "owner@elsewhere.org")  # an account from before the rule
    app.config["SIGNUP_ALLOWED_DOMAINS"] = allowed_domains(CAMPUS)
    known = sign_up(app, "owner@elsewhere.org", "en")
    unknown = sign_up(app, "stranger@elsewhere.org", "en")
    # About the domain only: an address with an account is answered exactly alike.
    assert known == unknown
    status, body = known
    assert status == 400 and body["data"]["errors"]["email"] == body["message"]
    assert "campus.edu.cn" in body["message"] and "*.mail.校园.中国" in body["message"]
    assert letters(app) == []
    assert sign_up(app, "newcomer@campus.edu.cn")[0] == 200
    assert [letter.to for letter in letters(app)] == ["newcomer@campus.edu.cn"]


def test_a_throwaway_mailbox_is_refused_unless_allowed(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    status, body = sign_up(app, "x@mailinator.com", "zh-CN")
    assert status == 400 and "临时邮箱" in body["message"]
    assert letters(app) == []
    relaxed = make_app(SIGNUP_BLOCK_DISPOSABLE=False)
    assert sign_up(relaxed, "x@mailinator.com")[0] == 200


def test_a_member_moving_off_campus_is_refused_and_staff_only_from_throwaways(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SIGNUP_ALLOWED_DOMAINS="campus.edu.cn")
    student = log_in(member(app, "student@campus.edu.cn"), app)
    refused = student.post("/account/email/code", {"email": "me@gmail.com"})
    assert refused.status_code == 400 and "campus.edu.cn" in refused.get_json()["message"]
    assert student.post("/account/email/code", {"email": "me@campus.edu.cn"}).status_code == 200
    staff = log_in(add_staff(app, "staff@campus.edu.cn"), app)
    assert staff.post("/cms/email_captcha", {"email": "staff@gmail.com"}).status_code == 200
    throwaway = staff.post("/cms/email_captcha", {"email": "staff@mailinator.com"})
    assert throwaway.status_code == 400 and "email" in throwaway.get_json()["data"]["errors"]
    assert {letter.to for letter in letters(app)} == {"me@campus.edu.cn", "staff@gmail.com"}
