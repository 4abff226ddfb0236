"""Campus-only sign-up in Chromium, on a phone: the page says which addresses may sign up."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import expect

from campus.settings import allowed_domains
from tests.e2e.conftest import LiveServer, Watched
from tests.helpers import letters, settle

PHONE = {"width": 375, "height": 740}
REFUSED = {"zh-CN": "请使用校园邮箱", "en-US": "Please use your campus address"}


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_an_address_off_campus_is_refused_beside_the_field(
    browser: Watched, live_server: LiveServer, app: Flask, locale: str
) -> None:
    app.config["SIGNUP_ALLOWED_DOMAINS"] = allowed_domains("campus.edu.cn")
    context = browser.new_context(locale=locale, viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_server.url}/signup")
    page.fill("#email", "someone@gmail.com")
    page.click("#get-code")
    error = page.locator('[data-error-for="email"]')
    expect(error).to_contain_text(REFUSED[locale])
    expect(error).to_contain_text("campus.edu.cn")
    page.fill("#email", "someone@campus.edu.cn")
    page.click("#get-code")
    expect(error).to_be_empty()
    expect(page.locator(".form-message")).not_to_be_empty()
    settle(app)
    assert [letter.to for letter in letters(app)] == ["someone@campus.edu.cn"]
    context.close()
