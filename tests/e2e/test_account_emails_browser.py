"""A second address in Chromium, on a phone: add it, make it primary, drop the old one."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, Watched, log_in_browser, wait_for_letter
from tests.helpers import code_in, member

PHONE = {"width": 375, "height": 740}
HOME = "home@gmail.com"
PRIMARY = {"zh-CN": "主邮箱", "en-US": "primary"}


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_a_member_moves_to_a_second_address_and_logs_in_with_it(
    browser: Watched, live_server: LiveServer, app: Flask, locale: str
) -> None:
    owner = member(app, "student@campus.edu.cn")
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    log_in_browser(page, live_server.url, owner.email, owner.password, "/account")
    page.click("#manage-addresses")
    expect(page).to_have_url(re.compile(r"/account/emails$"))
    page.wait_for_load_state()
    page.fill("#email", HOME)
    page.click("#get-code")
    expect(page.locator("#get-code")).to_contain_text(re.compile(r"\d+"))
    page.fill("#code", code_in(wait_for_letter(app, HOME).text))
    page.click("#add-submit")
    home = page.locator(f'li[data-address="{HOME}"]')
    expect(home).to_be_visible()
    page.wait_for_load_state()
    home.locator("[data-make-primary]").click()
    expect(home).to_contain_text(PRIMARY[locale])
    page.wait_for_load_state()
    old = page.locator(f'li[data-address="{owner.email}"]')
    old.locator("[data-remove]").click()
    expect(old).to_have_count(0)
    page.wait_for_load_state()
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.fill("#email", HOME)
    page.fill("#password", owner.password)
    page.click("#login-submit")
    expect(page.locator("#account-email")).to_have_text(HOME)
    context.close()
