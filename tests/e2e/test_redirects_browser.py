"""Chromium, the browser users run, agrees that ``next`` never leaves the site."""

from __future__ import annotations

import itertools
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

from campus.web.redirects import local_path
from tests.campus.test_redirects import PIECES
from tests.e2e.conftest import LiveServer, Watched
from tests.helpers import Person


@pytest.mark.browser
@pytest.mark.parametrize("login", ["/login", "/cms/login"])
@pytest.mark.parametrize("target", ["/\t/evil.com", "/\n/evil.com", "/\r/evil.com", "/\\evil.com"])
def test_logging_in_with_a_hostile_next_stays_on_the_site(
    browser: Watched, live_server: LiveServer, staff: Person, login: str, target: str
) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}{login}?next={quote(target, safe='')}")
    page.fill("#email", staff.email)
    page.fill("#password", staff.password)
    page.click("#login-submit")
    expect(page.locator("h1")).not_to_have_text("")
    page.wait_for_url(lambda url: "/login" not in url)
    assert urlsplit(page.url).netloc == urlsplit(live_server.url).netloc, page.url
    context.close()


@pytest.mark.browser
def test_chromium_resolves_every_accepted_variant_to_this_origin(
    browser: Watched, live_server: LiveServer
) -> None:
    accepted: list[str] = []
    originals: list[str] = []
    for size in range(3):
        for run in itertools.product(PIECES, repeat=size):
            for candidate in ("".join(run) + "evil.com/x", "/" + "".join(run) + "evil.com/x"):
                found = local_path(candidate)
                if found is not None:
                    accepted.append(found)
                    originals.append(candidate)
    assert len(accepted) > 100
    page = browser.new_page()
    page.goto(f"{live_server.url}/login")
    # How Chromium itself resolves each value against the log-in page.
    origins = page.evaluate(
        """(values) => values.map((v) => {
             try { return new URL(v, location.href).origin; } catch (e) { return location.origin; }
           })""",
        accepted + originals,
    )
    here = page.evaluate("location.origin")
    leaving = [v for v, origin in zip(accepted + originals, origins, strict=True) if origin != here]
    assert leaving == []
    page.close()
