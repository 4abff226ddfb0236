"""Arbitrary and hostile input against every endpoint (hypothesis).

No 500, never an HTML error page from a JSON endpoint, and mail goes only to
one validated address with only the headers the templates set, whatever is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from campus import create_app
from campus.extensions import services
from campus.support.addresses import parse_address
from tests.app_fixtures import add_staff, base_config, sqlite_copy
from tests.helpers import Api, log_in
from tests.smtp_server import Inbox, smtp_server

JSON_POSTS = [
    "/cms/login",
    "/cms/logout",
    "/cms/email_captcha",
    "/cms/resetemail",
    "/reauth",
    "/login",
    "/signup/code",
    "/signup",
    "/password/reset/code",
    "/password/reset",
    "/account/email/code",
    "/account/email",
]
PAGES = [
    "/cms/login",
    "/cms/",
    "/cms/resetemail",
    "/healthz",
    "/dev/mailbox",
    "/",
    "/cms/email_captcha",
]
FIELDS = ["email", "captcha", "password", "code", "csrf_token", "next"]
HEADERS_SENT = {"content-type", "mime-version", "subject", "from", "to", "date", "message-id"}

INJECTIONS = [
    "victim@example.com\r\nBcc: evil@example.com",
    "victim@example.com\nBcc: evil@example.com",
    "victim@example.com\rBcc: evil@example.com",
    "victim@example.com%0d%0aBcc: evil@example.com",
    "victim@example.com\u2028Bcc: evil@example.com",
    "=?utf-8?q?evil=40example.com?= <victim@example.com>",
    "=?utf-8?b?ZXZpbEBleGFtcGxlLmNvbQ==?=@example.com",
    '"evil@example.com"@example.com',
    '"victim\r\nBcc: evil"@example.com',
    "victim@example.com, evil@example.com",
    "victim@example.com;evil@example.com",
    "Victim <victim@example.com>, evil@example.com",
    "<evil@example.com>",
    "victim@example.com\x00evil@example.com",
    "victim@exаmple.com",  # Cyrillic a
    "victim@xn--exmple-4nf.com",
    "victim@ex\u00adample.com",  # soft hyphen
    "victim@example.com.",
    "victim@[127.0.0.1]",
    "victim+tag@example.com",
    "VICTIM@EXAMPLE.COM",
    "a" * 300 + "@example.com",
]

text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(INJECTIONS),
    st.emails().map(str),
    st.builds(lambda a, b: a + b, st.sampled_from(INJECTIONS), st.text(max_size=20)),
    st.text(min_size=1000, max_size=5000),
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS), children, max_size=4)
    ),
    max_leaves=12,
)
form_pairs = st.lists(st.tuples(st.sampled_from(FIELDS), text), max_size=6)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["form", "json", "raw", "nested", "surrogate"]))
    path = draw(st.sampled_from(JSON_POSTS))
    if kind == "nested":
        opener = draw(st.sampled_from([b"[", b'{"email":', b'{"password":[']))
        body = opener * draw(st.integers(min_value=500, max_value=40_000))
        return {"path": path, "body": body, "type": "application/json"}
    if kind == "surrogate":
        fields = draw(st.dictionaries(st.sampled_from(FIELDS), text, min_size=1, max_size=3))
        lone = draw(st.sampled_from(["\\ud800", "\\udbff", "\\udc00", "\\udfff"]))
        field = draw(st.sampled_from(sorted(fields)))
        raw_json = json.dumps(fields).replace(
            json.dumps(field) + ": ", json.dumps(field) + ': "' + lone + '", "_": ', 1
        )
        return {"path": path, "body": raw_json, "type": "application/json"}
    if kind == "form":
        return {"path": path, "data": draw(form_pairs)}
    if kind == "json":
        return {"path": path, "body": json.dumps(draw(json_value)), "type": "application/json"}
    raw = draw(st.binary(max_size=2000))
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=x",
            ]
        )
    )
    return {"path": path, "body": raw, "type": content_type}


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[Flask, Api, Inbox]]:
    """One app for every example: a real SMTP server, no request limits, no cooldown."""
    directory = tmp_path_factory.mktemp("hostile")
    database = sqlite_copy(sqlite_template, directory)
    with smtp_server("plain") as (port, inbox):
        app = create_app(
            base_config(
                directory,
                database,
                MAIL_SERVER="127.0.0.1",
                MAIL_PORT=port,
                RATELIMIT_ENABLED=False,
                LOGIN_LIMIT_PER_ACCOUNT="100000/hour",
                LOGIN_LIMIT_PER_IP="100000/hour",
                LOGIN_LIMIT_PER_DEVICE="100000/hour",
                EMAILCODE_RESEND_COOLDOWN=0,
                EMAILCODE_FAILURE_CAP=10_000,
                EMAILCODE_FAILURE_CEILING=10_000,
            )
        )
        api = Api(app.test_client())
        staff = add_staff(app, "staff@example.com")
        log_in(staff, api)
        app.config["HOSTILE_STAFF"] = staff
        yield app, api, inbox


def check_mail(inbox: Inbox, app: Flask | None = None) -> None:
    if app is not None:
        pool = services(app).quiet  # mail sent after the answer is checked too
        assert pool is not None
        pool.wait()
    for received in inbox.received:
        assert len(received.rcpt_tos) == 1, received.rcpt_tos
        recipient = received.rcpt_tos[0]
        assert parse_address(recipient).value == recipient
        assert received.message["To"] == recipient
        assert {name.lower() for name in received.message} <= HEADERS_SENT
        assert len(received.message.get_all("To", [])) == 1
        for name, value in received.message.items():
            if name.lower() != "subject":
                assert "\n" not in str(value) and "\r" not in str(value), (name, value)
    inbox.received.clear()


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=requests())
def test_json_endpoints_survive_anything(
    hostile: tuple[Flask, Api, Inbox], request: dict[str, Any]
) -> None:
    app, api, inbox = hostile
    headers = {"X-CSRFToken": api.token or ""}
    if "data" in request:
        form = MultiDict(request["data"])
        response = api.client.post(request["path"], data=form, headers=headers)
    else:
        headers["Content-Type"] = request["type"]
        response = api.client.post(request["path"], data=request["body"], headers=headers)
    assert response.status_code < 500 or response.status_code == 503, response.get_data(
        as_text=True
    )[:300]
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["code"] == response.status_code and isinstance(body["data"], dict)
    check_mail(inbox, app)
    logged_out = ("/cms/logout", "/cms/login", "/logout", "/login", "/signup", "/password/reset")
    if request["path"] in logged_out and response.status_code == 200:
        api.token = None  # the session ended, and its CSRF token with it
        log_in(app.config["HOSTILE_STAFF"], api)  # keep probing as a logged-in user


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(PAGES), query=st.dictionaries(st.sampled_from(FIELDS), text, max_size=3)
)
def test_pages_survive_any_query(
    hostile: tuple[Flask, Api, Inbox], path: str, query: dict[str, str]
) -> None:
    app, api, inbox = hostile
    response = api.client.get(path, query_string=query)
    assert response.status_code in (200, 302, 403, 404, 405), response.status_code
    response.close()
    check_mail(inbox, app)


@pytest.mark.parametrize("address", INJECTIONS)
def test_injection_attempts_never_add_a_recipient_or_header(
    hostile: tuple[Flask, Api, Inbox], address: str
) -> None:
    _, api, inbox = hostile
    response = api.post("/cms/email_captcha", {"email": address})
    if any(ch in address for ch in '\r\n\x00,;<>"=%\u2028'):
        assert response.status_code == 400
    assert response.status_code in (200, 400)
    assert len(inbox.received) == (1 if response.status_code == 200 else 0)
    check_mail(inbox)


def test_a_huge_body_is_refused_with_an_envelope(hostile: tuple[Flask, Api, Inbox]) -> None:
    _, api, _inbox = hostile
    response = api.post("/cms/email_captcha", {"email": "x" * 100_000 + "@example.com"})
    assert response.status_code == 413


def every_post(app: Flask) -> list[str]:
    """Every POST route the app has, read from its URL map so none is forgotten."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.arguments
    )


def hostile_bodies() -> Iterator[tuple[str, bytes]]:
    """Bodies that crashed the app before: deep nesting and lone surrogates, in families."""
    for depth in (1_000, 30_000, 60_000):
        yield "array", b"[" * depth
        yield "object", b'{"email":' * depth
        yield "mixed", b'{"email":[' * (depth // 2)
    for field in FIELDS:
        for text_ in ("\\ud800", "\\udfff", "a\\ud83dz", "\\udc80@example.com"):
            yield f"surrogate {field}", f'{{"{field}": "{text_}"}}'.encode()
        yield f"surrogate key {field}", f'{{"{field}\\ud800": "x"}}'.encode()
    yield "surrogate everywhere", b'{"email": "\\ud800", "password": "\\ud800", "code": "\\ud800"}'


@pytest.fixture
def limited_app(tmp_path: Path, sqlite_template: Path) -> Flask:
    """Rate limits on: the limiter's key function reads the body before any view."""
    return create_app(
        base_config(
            tmp_path,
            sqlite_copy(sqlite_template, tmp_path),
            RATELIMIT_ENABLED=True,
            # One account sends them all.
            EMAILCODE_LIMIT_PER_ACCOUNT="100000/hour",
            REAUTH_LIMIT_PER_ACCOUNT="100000/hour",
        )
    )


@pytest.mark.parametrize("logged_in", [False, True])
def test_nested_and_surrogate_bodies_answer_400_on_every_post(
    limited_app: Flask, logged_in: bool, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api(limited_app.test_client())
    api.refresh_token("/login")
    if logged_in:
        log_in(add_staff(limited_app, "staff@example.com"), api)
    # Log-out reads no body (and would end the session under test).
    paths = [path for path in every_post(limited_app) if not path.endswith("/logout")]
    assert {"/login", "/cms/login", "/reauth", "/signup/code", "/cms/resetemail"} <= set(paths)
    caplog.set_level("ERROR")
    sent = 0
    for path in paths:
        for family, body in hostile_bodies():
            sent += 1  # one client address each, so per-client limits stay out of the way
            response = api.client.post(
                path,
                data=body,
                headers={"X-CSRFToken": api.token or "", "Content-Type": "application/json"},
                environ_overrides={
                    "REMOTE_ADDR": f"10.{sent // 65536}.{sent // 256 % 256}.{sent % 256}"
                },
            )
            # Anonymous, the views that need a login may answer 401 before reading.
            allowed = (400, 413) if logged_in else (400, 401, 413)
            assert response.status_code in allowed, (path, family, response.status_code)
            assert response.mimetype == "application/json", (path, family)
            assert response.get_json()["code"] == response.status_code
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
