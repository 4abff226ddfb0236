"""A person in Chromium: log in, ask for a code, read it, enter it, see the new address."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.clock import FakeClock
from tests.e2e.conftest import ARTIFACTS, LiveServer, Watched, log_in_browser, wait_for_letter
from tests.helpers import Person, code_in, wrong_code

NEW = "moved@example.com"


@pytest.mark.browser
def test_change_email_in_a_browser(
    browser: Watched, live_server: LiveServer, staff: Person
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 740})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{live_server.url}/cms/resetemail")
    expect(page).to_have_url(re.compile(r"/cms/login\?next="))
    page.wait_for_load_state()

    page.fill("#email", staff.email)
    page.fill("#password", staff.password)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/cms/resetemail$"))
    page.wait_for_load_state()

    # The page is usable at phone width: nothing sticks out sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # A bad address is reported beside the email field.
    page.fill("#email", "not-an-address")
    page.click("#get-code")
    expect(page.locator('[data-error-for="email"]')).not_to_be_empty()

    page.fill("#email", NEW)
    button = page.locator("#get-code")
    label = button.inner_text()
    button.click()
    expect(button).to_be_disabled()
    expect(button).to_contain_text(re.compile(r"\d+"))
    expect(page.locator('[data-error-for="email"]')).to_be_empty()

    # The countdown survives a reload.
    page.reload()
    expect(button).to_be_disabled()
    expect(button).not_to_have_text(label)

    mailbox = context.new_page()
    mailbox.goto(f"{live_server.url}/dev/mailbox")
    text = mailbox.locator(".letter-text").first.inner_text()
    code = code_in(text)

    page.fill("#email", NEW)
    wrong = wrong_code(code)
    page.fill("#captcha", wrong)
    page.click("#change-submit")
    error = page.locator('[data-error-for="captcha"]')
    expect(error).to_contain_text("4")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "change-email-wrong-code.png"), full_page=True)

    page.fill("#captcha", code.lower())
    page.click("#change-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/cms/$"))
    page.wait_for_load_state()
    expect(page.locator("#account-email")).to_have_text(NEW)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-after-change.png"), full_page=True)
    # The Content-Security-Policy blocked nothing the pages needed.
    assert not [text for text in console if "Content Security Policy" in text]
    context.close()


@pytest.mark.browser
def test_stale_login_asks_for_the_password_in_place(
    browser: Watched, live_server: LiveServer, staff: Person, app: Flask, clock: FakeClock
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in_browser(page, live_server.url, staff.email, staff.password, "/cms/resetemail")

    clock.advance(app.config["REAUTH_MAX_AGE"] + 60)
    page.fill("#email", NEW)
    page.click("#get-code")
    dialog = page.locator("#reauth")
    expect(dialog).to_be_visible()
    page.fill("#reauth-password", "not my password")
    page.click("#reauth-submit")
    expect(dialog.locator('[data-error-for="password"]')).not_to_be_empty()
    page.fill("#reauth-password", staff.password)
    page.click("#reauth-submit")
    expect(dialog).to_be_hidden()
    # The request went through as typed: the code was sent and the address kept.
    expect(page.locator("#get-code")).to_be_disabled()
    expect(page.locator("#email")).to_have_value(NEW)
    assert wait_for_letter(app, NEW).to == NEW
    context.close()


@pytest.mark.browser
def test_a_limit_shows_when_to_try_again(
    browser: Watched, live_server: LiveServer, staff: Person, app: Flask, clock: FakeClock
) -> None:
    app.config["EMAILCODE_LIMIT_PER_ADDRESS"] = "1/hour"
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in_browser(page, live_server.url, staff.email, staff.password, "/cms/resetemail")
    page.fill("#email", NEW)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))

    # The cooldown passes, but the address has had its one code this hour.
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    page.evaluate("localStorage.clear()")
    page.reload()
    page.fill("#email", NEW)
    page.click("#get-code")
    expect(
        page.locator('[data-error-for="email"], .form-message').filter(has_text="minutes")
    ).to_have_count(1)
    button = page.locator("#get-code")
    expect(button).to_be_disabled()
    seconds = int(re.findall(r"\d+", button.inner_text())[0])
    assert seconds > app.config["EMAILCODE_RESEND_COOLDOWN"]  # the hour's wait, not a cooldown
    context.close()
