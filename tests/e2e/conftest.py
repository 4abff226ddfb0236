from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from campus.mail.mailbox import Letter
from tests.helpers import letters
from tests.services import chromium_path, free_port, missing

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        Response,
        expect,
        sync_playwright,
    )
except ImportError:  # pragma: no cover - the dev extras install it
    sync_playwright = None  # type: ignore[assignment]

# Chromium on this machine may not phone home: without these flags it keeps
# trying hosts the closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

ARTIFACTS = Path(os.environ.get("CAMPUS_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
    if sync_playwright is None:
        missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class Watched:
    """Chromium, with every page it opens watched for console errors and failed requests.

    A JSON answer of 4xx to a POST is the app speaking (a wrong code, a limit):
    the test checks those itself, and Chromium's "Failed to load resource" line
    for one is not a fault. Anything else is: a console error, a request that
    failed, or a GET (page, script, style, icon) that answered 4xx or 5xx,
    unless the test said it expects it.
    """

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self.problems: list[str] = []
        self._answers: set[str] = set()
        self._expected: set[str] = set()
        self._console: list[tuple[str, str]] = []

    def new_context(self, **options: Any) -> BrowserContext:
        context = self._browser.new_context(**options)
        context.on("page", self.watch)
        return context

    def new_page(self, **options: Any) -> Page:
        page = self._browser.new_page(**options)
        self.watch(page)
        return page

    def expect_error(self, path: str) -> None:
        """A GET the test makes on purpose to see an error page."""
        self._expected.add(path)

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._on_failed)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._console.append((message.text, message.location.get("url", "")))

    def _on_failed(self, request: Request) -> None:
        # Leaving a page cancels what it still loads; that is not a fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(
                f"request failed: {request.method} {request.url} {request.failure}"
            )

    def _on_response(self, response: Response) -> None:
        if response.status < 400:
            return
        path = urlsplit(response.url).path
        is_envelope = response.headers.get("content-type", "").startswith("application/json")
        if (response.request.method == "POST" and is_envelope) or path in self._expected:
            self._answers.add(response.url)
        else:
            self.problems.append(f"{response.request.method} {response.url}: {response.status}")

    def all_problems(self) -> list[str]:
        console = [
            f"console error: {text} ({url})"
            for text, url in self._console
            if not (text.startswith("Failed to load resource") and url in self._answers)
        ]
        return self.problems + console


@pytest.fixture
def browser(chromium: Browser) -> Iterator[Watched]:
    """Chromium for one test: it fails if any page showed a console error or failed request."""
    watched = Watched(chromium)
    yield watched
    assert watched.all_problems() == []


class LiveServer:
    """The app served over real HTTP on a free loopback port."""

    def __init__(self, app: Flask) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    """One database is enough for a browser: the app tests cover both."""
    return sqlite_only


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


def log_in_browser(page: Page, base: str, email: str, password: str, then: str) -> None:
    """Log in through the CMS form and land on ``then``."""
    page.goto(f"{base}/cms/login?next={then}")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-submit")
    expect(page).to_have_url(re.compile(rf"^[^?]*{re.escape(then)}$"))
    # The URL changes before the page's deferred script has wired the buttons.
    page.wait_for_load_state()


def wait_for_letter(app: Flask, to: str, timeout: float = 10) -> Letter:
    """The first letter to ``to``, once the request that sends it has finished."""
    deadline = time.monotonic() + timeout
    while True:
        found = [letter for letter in letters(app) if letter.to == to]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} within {timeout} s")
        time.sleep(0.05)
