"""The page follows a queued message: "sent", or "could not be delivered", without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.app_fixtures import add_staff
from tests.e2e.conftest import LiveServer, Watched, log_in_browser
from tests.queue_worker import Worker, queue_settings
from tests.smtp_server import smtp_server


@pytest.mark.browser
@pytest.mark.parametrize(
    ("rcpt_reply", "shown"), [(None, "sent"), ("550 5.1.1 no such mailbox", "failed")]
)
def test_the_page_shows_what_became_of_the_message(
    browser: Watched,
    make_app: Callable[..., Flask],
    redis_url: str,
    tmp_path: Path,
    rcpt_reply: str | None,
    shown: str,
) -> None:
    with smtp_server("plain") as (port, inbox):
        inbox.rcpt_reply = rcpt_reply
        settings = queue_settings(port, REDIS_URL=redis_url)
        app = make_app(**settings)
        staff = add_staff(app, "staff@example.com")
        worker = Worker(tmp_path, settings).start()
        try:
            with LiveServer(app) as server:
                context = browser.new_context(locale="en-US")
                page = context.new_page()
                log_in_browser(page, server.url, staff.email, staff.password, "/cms/resetemail")
                page.fill("#email", "someone@example.com")
                page.click("#get-code")
                note = page.locator("#delivery-status")
                button = page.locator("#get-code")
                if shown == "sent":
                    expect(note).to_have_text(re.compile("sent", re.I), timeout=15000)
                    expect(note).to_have_class(re.compile("success"))
                    expect(button).to_be_disabled()
                else:
                    expect(note).to_have_text(
                        re.compile("could not be delivered", re.I), timeout=15000
                    )
                    expect(note).to_have_class(re.compile("error"))
                    expect(button).to_be_enabled()  # the code was withdrawn: ask again at once
                context.close()
        finally:
            worker.stop()
