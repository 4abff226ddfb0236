"""A member in Chromium: sign up, log out, reset the password, log in, change the email."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS, LiveServer, Watched
from tests.helpers import code_in, letters, settle

ADDRESS = "student@example.com"
MOVED = "student.moved@example.com"
FIRST, SECOND = "first passphrase", "second passphrase"


def newest_code(app: Flask, page: Page, base: str, to: str) -> str:
    """Read the newest code sent to ``to`` in the development mailbox page."""
    settle(app)
    page.goto(f"{base}/dev/mailbox")
    letter = (
        page.locator("article.letter").filter(has=page.locator(".letter-to", has_text=to)).first
    )
    return code_in(letter.locator(".letter-text").inner_text())


def request_code(page: Page, address: str) -> None:
    page.fill("#email", address)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))


@pytest.mark.browser
def test_a_member_signs_up_resets_logs_in_and_moves(
    browser: Watched, live_server: LiveServer, app: Flask
) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 390, "height": 800})
    page = context.new_page()
    mailbox = context.new_page()
    base = live_server.url

    # Sign up.
    page.goto(f"{base}/signup")
    request_code(page, ADDRESS)
    code = newest_code(app, mailbox, base, ADDRESS)
    page.fill("#code", code)
    page.fill("#password", FIRST)
    page.click("#signup-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/account$"))
    page.wait_for_load_state()
    expect(page.locator("#account-email")).to_have_text(ADDRESS)

    # Log out.
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"^[^?]*/login$"))
    page.wait_for_load_state()

    # Reset the forgotten password.
    page.goto(f"{base}/password/reset")
    request_code(page, ADDRESS)
    page.fill("#code", newest_code(app, mailbox, base, ADDRESS))
    page.fill("#password", SECOND)
    page.click("#reset-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/login$"))
    page.wait_for_load_state()

    # The old password no longer works; the new one does.
    page.fill("#email", ADDRESS)
    page.fill("#password", FIRST)
    page.click("#login-submit")
    expect(page.locator('[data-error-for="password"]')).not_to_be_empty()
    page.fill("#password", SECOND)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/account$"))
    page.wait_for_load_state()

    # Change the email by code.
    page.goto(f"{base}/account/email")
    request_code(page, MOVED)
    page.fill("#code", newest_code(app, mailbox, base, MOVED))
    page.click("#change-submit")
    expect(page).to_have_url(re.compile(r"^[^?]*/account$"))
    page.wait_for_load_state()
    expect(page.locator("#account-email")).to_have_text(MOVED)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "member-account.png"), full_page=True)
    subjects = {letter.subject for letter in letters(app)}
    assert len(subjects) >= 4  # sign-up, reset, change-email codes and the notices differ
    context.close()
