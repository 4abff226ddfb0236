"""Logging in with a mailed code in Chromium, on a phone, in Chinese and English."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, Watched, wait_for_letter
from tests.helpers import Person, code_in, member

PHONE = {"width": 375, "height": 740}


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_member_logs_in_with_a_code_instead_of_the_password(
    browser: Watched, live_server: LiveServer, app: Flask, locale: str
) -> None:
    owner = member(app)
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/login")
    page.click("#by-code")
    expect(page).to_have_url(re.compile(r"by=code"))
    page.wait_for_load_state()  # the code page's script wires its buttons once loaded
    page.fill("#email", owner.email)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))
    page.fill("#code", code_in(wait_for_letter(app, owner.email).text))
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-email")).to_have_text(owner.email)
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_staff_finish_a_password_log_in_with_a_code_when_asked(
    browser: Watched, live_server: LiveServer, app: Flask, staff: Person, locale: str
) -> None:
    app.config["STAFF_LOGIN_CONFIRM_BY_CODE"] = True
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/cms/login")
    page.fill("#email", staff.email)
    page.fill("#password", staff.password)
    page.click("#login-submit")
    expect(page.locator("#pending-login")).to_contain_text(staff.email)
    page.wait_for_load_state()
    expect(page.locator("#email")).to_have_value(staff.email)
    page.fill("#code", code_in(wait_for_letter(app, staff.email).text))
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"/cms/$"))
    context.close()
