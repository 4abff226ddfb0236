"""Every page, in both languages, loads in Chromium with no console error and no failed request."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, Watched, log_in_browser
from tests.helpers import Person, member

ANONYMOUS = [
    "/login",
    "/login?by=code",
    "/cms/login",
    "/cms/login?by=code",
    "/signup",
    "/password/reset",
    "/dev/mailbox",
]
STAFF = ["/cms/", "/cms/resetemail", "/account/emails", "/dev/mailbox"]
MEMBER = ["/account", "/account/email", "/account/emails"]


def visit(page: Page, base: str, paths: list[str]) -> None:
    """Open each page and let everything it loads arrive."""
    for path in paths:
        page.goto(base + path)
        expect(page.locator("h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")


@pytest.mark.browser
@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_every_page_loads_cleanly(
    browser: Watched, live_server: LiveServer, app: Flask, staff: Person, locale: str
) -> None:
    base = live_server.url
    context = browser.new_context(locale=locale)
    page = context.new_page()
    visit(page, base, ANONYMOUS)
    # Error pages: the document answers 404 or 403 on purpose; nothing else may fail.
    browser.expect_error("/no/such/page")
    page.goto(base + "/no/such/page")
    expect(page.locator("h1")).to_have_text("404")
    page.wait_for_load_state("networkidle")

    log_in_browser(page, base, staff.email, staff.password, "/cms/")
    visit(page, base, STAFF)
    context.close()

    context = browser.new_context(locale=locale)
    page = context.new_page()
    who = member(app)
    page.goto(base + "/login")
    page.fill("#email", who.email)
    page.fill("#password", who.password)
    page.click("#login-submit")
    page.wait_for_url(base + "/account")
    visit(page, base, MEMBER)
    browser.expect_error("/cms/")
    page.goto(base + "/cms/")
    expect(page.locator("h1")).to_have_text("403")
    page.wait_for_load_state("networkidle")
    context.close()


@pytest.mark.browser
def test_the_site_has_an_icon(browser: Watched, live_server: LiveServer) -> None:
    page = browser.new_page()
    page.goto(live_server.url + "/login")
    # Fetched as the browser fetches an icon, not opened as a page of its own.
    response = page.request.get(live_server.url + "/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/")
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page.close()
