"""Log-out ends the session on the server: a copy of its cookie opens nothing."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.app_fixtures import add_staff
from tests.helpers import Api, Person, log_in, member


def copy_of(api: Api, app: Flask) -> Api:
    """Another client holding the same cookie and token, as a thief would."""
    thief = Api(app.test_client())
    cookie = api.client.get_cookie("session")
    assert cookie is not None
    thief.client.set_cookie("session", cookie.value)
    thief.token = api.token
    return thief


@pytest.mark.parametrize("logout", ["/logout", "/cms/logout"])
def test_a_copied_staff_cookie_dies_with_log_out(app: Flask, staff: Person, logout: str) -> None:
    api = Api(app.test_client())
    log_in(staff, api)
    thief = copy_of(api, app)
    assert thief.client.get("/cms/").status_code == 200  # the copy works while logged in
    assert api.post(logout).status_code == 200
    assert thief.client.get("/cms/").status_code == 302
    assert thief.client.get("/cms/resetemail").status_code == 302
    asked = thief.post("/cms/email_captcha", {"email": "thief@example.com"})
    assert asked.status_code == 401 and not asked.get_json()["data"].get("reauth")
    confirmed = thief.post("/cms/resetemail", {"email": "thief@example.com", "captcha": "ABCDEF"})
    assert confirmed.status_code == 401


def test_a_copied_member_cookie_dies_with_log_out(app: Flask) -> None:
    who = member(app)
    api = log_in(who, app)
    thief = copy_of(api, app)
    assert thief.client.get("/account").status_code == 200
    assert api.post("/logout").status_code == 200
    assert thief.client.get("/account").status_code == 302
    for path, fields in [
        ("/account/email/code", {"email": "thief@example.com"}),
        ("/account/email", {"email": "thief@example.com", "code": "ABCDEF"}),
        ("/reauth", {"password": "anything at all"}),
    ]:
        assert thief.post(path, fields).status_code == 401, path


def test_log_out_ends_only_that_session(app: Flask) -> None:
    staff = add_staff(app, "staff@example.com")
    laptop, phone = Api(app.test_client()), Api(app.test_client())
    log_in(staff, laptop)
    log_in(staff, phone)
    assert laptop.post("/cms/logout").status_code == 200
    assert laptop.client.get("/cms/").status_code == 302
    assert phone.client.get("/cms/").status_code == 200
