"""Budgets count mailboxes, not spellings; notices go no more often than codes."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from campus.support.addresses import parse_address
from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import Api, letters, log_in, member, settle


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def spellings_of(local: str, domain: str, count: int) -> list[str]:
    """``count`` spellings of one mailbox: ``+tags``, case, and (for Gmail) dots."""
    found = [f"{local}+{n}@{domain}" for n in range(count // 2)]
    found += [f"{local.upper()}+x{n}@{domain.upper()}" for n in range(count - len(found))]
    if domain in ("gmail.com", "googlemail.com"):
        dotted = [".".join(local[: i + 1]) + local[i + 1 :] for i in range(len(local) - 1)]
        found = [f"{d}+{n}@{domain}" for n, d in enumerate(dotted)] + found
    return found[:count]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("name+tag@example.com", "name@example.com"),
        ("Name+a+b@Example.COM", "name@example.com"),
        ("f.i.r.s.t@gmail.com", "first@gmail.com"),
        ("First.Last+news@googlemail.com", "firstlast@gmail.com"),
        ("first.last@example.com", "first.last@example.com"),
        ("+only@example.com", "+only@example.com"),
    ],
)
def test_spellings_of_one_mailbox_share_its_key(one: str, other: str) -> None:
    assert parse_address(one).mailbox == parse_address(other).mailbox


def test_dots_count_only_where_the_provider_ignores_them() -> None:
    assert parse_address("a.b@example.com").mailbox != parse_address("ab@example.com").mailbox


@pytest.mark.parametrize("domain", ["gmail.com", "example.com"])
def test_the_per_address_budget_counts_the_mailbox(
    limits_in: Callable[..., Flask], clock: FakeClock, domain: str
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ADDRESS="3/hour", EMAILCODE_LIMIT_PER_IP="1000/hour")
    api = Api(app.test_client())
    api.refresh_token("/signup")
    answers = []
    for spelling in spellings_of("someone", domain, 12):
        answers.append(api.post("/signup/code", {"email": spelling}).status_code)
        settle(app)  # the code is issued after the answer, on the clock of its time
        clock.advance(61)  # past every cooldown: only the budget may refuse
    settle(app)
    assert answers[:3] == [200, 200, 200]
    assert set(answers[3:]) == {429}
    assert len(letters(app)) == 3


def test_the_cooldown_counts_the_mailbox(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ADDRESS="100/hour")  # only the cooldown may hold mail back
    api = Api(app.test_client())
    api.refresh_token("/signup")
    for spelling in spellings_of("someone", "gmail.com", 8):
        assert api.post("/signup/code", {"email": spelling}).status_code == 200
    settle(app)
    assert len(letters(app)) == 1  # one code a minute to one inbox, however it is spelled


def test_account_notices_keep_the_cooldown_of_a_code(
    limits_in: Callable[..., Flask], clock: FakeClock
) -> None:
    app = limits_in(EMAILCODE_LIMIT_PER_ADDRESS="100/hour")
    taken = member(app, "owner@example.com").email
    api = Api(app.test_client())
    api.refresh_token("/signup")
    for _ in range(12):
        assert api.post("/signup/code", {"email": taken}).status_code == 200
    assert len(letters(app, taken)) == 1
    clock.advance(app.config["EMAILCODE_RESEND_COOLDOWN"])
    assert api.post("/signup/code", {"email": taken}).status_code == 200
    assert len(letters(app, taken)) == 2


def test_a_cooldown_in_the_background_logs_no_traceback(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(EMAILCODE_LIMIT_PER_ADDRESS="100/hour")
    member(app, "owner@example.com")
    api = Api(app.test_client())
    api.refresh_token("/signup")
    caplog.set_level("INFO")
    for address in ("fresh@example.com", "owner@example.com"):
        for path in ("/signup/code", "/password/reset/code"):
            for _ in range(3):
                assert api.post(path, {"email": address}).status_code == 200
    settle(app)
    assert [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"] == []
    assert any('"limit": "cooldown"' in r.getMessage() for r in caplog.records)


def test_message_id_names_the_sender_domain_and_nothing_of_the_host(app: Flask) -> None:
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    assert api.post("/cms/email_captcha", {"email": "new@example.com"}).status_code == 200
    assert api.post("/cms/email_captcha", {"email": "other@example.com"}).status_code == 200
    sent = sorted(Path(app.config["MAILBOX_DIR"]).glob("*.eml"))
    ids = [email.message_from_bytes(path.read_bytes())["Message-ID"] for path in sent]
    domain = app.config["MAIL_DEFAULT_SENDER"].rpartition("@")[2].rstrip(">")
    assert len(ids) == 2 and ids[0] != ids[1]
    for found in ids:
        assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(domain)}>", found), found
