"""Security headers and cookie flags on every page and answer."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from tests.helpers import Api, Person

PAGES = ["/cms/login", "/cms/", "/cms/resetemail", "/dev/mailbox", "/healthz", "/nowhere"]


def responses(app: Flask, staff: Person) -> list[tuple[str, object]]:
    api = Api(app.test_client())
    found: list[tuple[str, object]] = []
    found += [(f"GET {path} (anonymous)", api.client.get(path)) for path in PAGES]
    credentials = {"email": staff.email, "password": staff.password}
    found.append(("POST /cms/login", api.post("/cms/login", credentials)))
    api.refresh_token("/cms/")
    found += [(f"GET {path}", api.client.get(path)) for path in PAGES]
    found.append(("POST /cms/email_captcha", api.post("/cms/email_captcha", {"email": "bad"})))
    found.append(("GET static", api.client.get("/static/js/app.js")))
    for _, response in found:
        response.get_data()  # type: ignore[attr-defined]
        response.close()  # type: ignore[attr-defined]
    return found


def test_every_response_carries_the_security_headers(app: Flask, staff: Person) -> None:
    for name, response in responses(app, staff):
        headers = response.headers  # type: ignore[attr-defined]
        policy = headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in policy, name
        script_src = re.search(r"script-src ([^;]+)", policy)
        assert script_src and script_src.group(1).strip() == "'self'", name
        assert "unsafe-inline" not in policy, name
        assert headers.get("X-Content-Type-Options") == "nosniff", name
        assert headers.get("Referrer-Policy") == "same-origin", name
        assert headers.get("X-Frame-Options") == "DENY", name


def test_pages_have_no_inline_script_or_handlers(app: Flask, staff: Person) -> None:
    for name, response in responses(app, staff):
        if response.mimetype != "text/html":  # type: ignore[attr-defined]
            continue
        page = response.get_data(as_text=True)  # type: ignore[attr-defined]
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, (name, tag)
        assert not re.search(r"\son[a-z]+\s*=", page), name
        assert not re.search(r"\sstyle\s*=", page), name


def test_every_cookie_is_httponly_and_samesite(app: Flask, staff: Person) -> None:
    cookies = [
        (name, value)
        for name, response in responses(app, staff)
        for value in response.headers.getlist("Set-Cookie")  # type: ignore[attr-defined]
    ]
    assert cookies, "no response set a cookie"
    for name, cookie in cookies:
        assert "HttpOnly" in cookie, (name, cookie)
        assert "SameSite=Lax" in cookie, (name, cookie)


@pytest.mark.parametrize("path", ["/cms/login", "/healthz"])
def test_dynamic_answers_are_not_cached(app: Flask, path: str) -> None:
    assert app.test_client().get(path).headers["Cache-Control"] == "no-store"
