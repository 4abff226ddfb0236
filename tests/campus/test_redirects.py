"""After log-in, ``next`` never leads off the site, however it is spelled.

The oracle is ada, a WHATWG URL parser (the standard browsers implement): a
value is safe when the browser would resolve it, and what we hand back, to this
origin. Chromium itself checks the same family in tests/e2e.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from urllib.parse import quote

import ada_url
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from campus.web.redirects import local_path
from tests.helpers import Api, Person

BASE = "http://127.0.0.1:5000/login"
ORIGIN = ada_url.URL(BASE).origin

# Pieces a browser treats specially at the start of a URL: slashes both ways,
# what it strips or deletes, schemes, and their percent-encoded twins.
PIECES = [
    "/", "\\", "\t", "\n", "\r", " ", "\x00", "\x0b", "\x1f", "\x7f", "\u3000", "／",
    "%09", "%0a", "%0D", "%2f", "%2F", "%5c", "%5C", "%00", "@", ":", ".", "..",
    "http:", "https:", "javascript:", "//", "?", "#",
]  # fmt: skip


def family() -> Iterator[str]:
    """Every run of up to three pieces before ``evil.com``, with and without a leading ``/``."""
    for size in range(4):
        for run in itertools.product(PIECES, repeat=size):
            body = "".join(run) + "evil.com/x"
            yield body
            yield "/" + body


def stays_here(value: str) -> bool:
    try:
        return bool(ada_url.URL(value, BASE).origin == ORIGIN)
    except ValueError:
        return True  # a browser refuses to navigate to what it cannot parse


def test_the_reported_payloads_are_refused() -> None:
    for payload in ["/\t/evil.com", "/\n/evil.com", "/\r/evil.com", "/\\evil.com", "//evil.com"]:
        assert not stays_here(payload)  # the oracle agrees these leave the site
        assert local_path(payload) is None


def test_no_generated_variant_leads_off_the_site() -> None:
    checked = accepted = 0
    for candidate in family():
        checked += 1
        found = local_path(candidate)
        if found is None:
            continue
        accepted += 1
        assert stays_here(found), (candidate, found)
        assert stays_here(candidate), candidate
    assert checked > 50_000
    assert accepted > 1_000  # plenty of harmless paths still pass


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(st.sampled_from([*PIECES, "a", "b.c", "/x", "%", "2f", "e"]), max_size=12).map("".join)
)
def test_any_mix_of_hostile_pieces_stays_here(text: str) -> None:
    found = local_path(text)
    if found is not None:
        assert stays_here(found) and stays_here(text), (text, found)


@pytest.mark.parametrize(
    "path", ["/account", "/cms/resetemail?x=1#top", "/account/email?next=%2F%2Fevil.com", "/a/b/"]
)
def test_ordinary_paths_pass_unchanged(path: str) -> None:
    assert local_path(path) == path


def test_nothing_but_a_string_passes() -> None:
    assert local_path(None) is None
    assert local_path(["/account"]) is None
    assert local_path("/" + "a" * 5000) is None


@pytest.mark.parametrize("login", ["/login", "/cms/login"])
def test_log_in_answers_a_local_next_only(app: Flask, staff: Person, login: str) -> None:
    def logged_in_to(target: str) -> str:
        api = Api(app.test_client())
        page = api.client.get(f"{login}?next={quote(target, safe='')}").get_data(as_text=True)
        assert "evil.com" not in page  # the form's action carries no foreign next either
        response = api.post(
            f"{login}?next={quote(target, safe='')}",
            {"email": staff.email, "password": staff.password},
        )
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["data"]["next"])

    for target in ["/\t/evil.com", "/%0A/evil.com", "/\\evil.com", " //evil.com", "/\r\n/evil.com"]:
        answered = logged_in_to(target)
        assert stays_here(answered) and "evil.com" not in answered, (target, answered)
    assert logged_in_to("/account/email") == "/account/email"
