"""A late mail in Chromium: after a resend the page says the earlier code works, and it does."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.clock import FakeClock
from tests.e2e.conftest import LiveServer, Watched, log_in_browser
from tests.helpers import Person, code_in, letters

NEW = "late@example.com"
PHONE = {"width": 375, "height": 740}
EARLIER = {"zh-CN": "之前邮件中的验证码", "en-US": "earlier email"}


def ask_twice(page: Page, app: Flask, clock: FakeClock, address: str) -> None:
    """Ask for a code, let the cooldown pass, and ask again."""
    note = page.locator("#earlier-codes")
    page.fill("#email", address)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))
    expect(note).to_be_hidden()
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    page.evaluate("Object.keys(localStorage).forEach(k => localStorage.removeItem(k))")
    page.reload()
    page.fill("#email", address)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_after_a_resend_the_page_says_the_earlier_code_works_and_it_does(
    browser: Watched,
    live_server: LiveServer,
    staff: Person,
    app: Flask,
    clock: FakeClock,
    locale: str,
) -> None:
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    log_in_browser(page, live_server.url, staff.email, staff.password, "/cms/resetemail")
    ask_twice(page, app, clock, NEW)
    expect(page.locator("#earlier-codes")).to_be_visible()
    expect(page.locator("#earlier-codes")).to_contain_text(EARLIER[locale])
    first = code_in(letters(app, NEW)[-1].text)  # the oldest: the mail that came late
    page.fill("#captcha", first)
    page.click("#change-submit")
    expect(page).to_have_url(re.compile(r"/cms/$"))
    expect(page.locator("#account-email")).to_have_text(NEW)
    context.close()


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_the_sign_up_page_says_so_too(
    browser: Watched, live_server: LiveServer, app: Flask, clock: FakeClock, locale: str
) -> None:
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/signup")
    ask_twice(page, app, clock, NEW)
    expect(page.locator("#earlier-codes")).to_contain_text(EARLIER[locale])
    context.close()
