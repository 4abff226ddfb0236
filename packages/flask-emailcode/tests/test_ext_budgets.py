"""Sending and checking budgets, and an app's own, on ``limits`` in the codes' storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from _helpers import make_app
from flask_emailcode import EmailCode, TooSoon
from flask_emailcode.testing import FakeClock, wrong_code


@pytest.fixture(params=["memory", "sqlite", "redis"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    if request.param == "sqlite":
        return {"EMAILCODE_STORAGE_URI": f"sqlite:///{tmp_path / 'codes.sqlite3'}"}
    return {"EMAILCODE_STORAGE_URI": request.getfixturevalue("redis_url")}


def build(storage: dict[str, Any], **config: Any) -> tuple[Flask, EmailCode]:
    app = make_app(EMAILCODE_RESEND_COOLDOWN=0, **storage, **config)
    return app, EmailCode(app, sender=lambda mail: None)


def refused_scope(emailcode: EmailCode, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(TooSoon) as refused:
        emailcode.send(*args, **kwargs)
    assert refused.value.retry_after > 0
    return refused.value.scope


def test_a_mailbox_budget_folds_tags_case_and_gmail_dots(storage: dict[str, Any]) -> None:
    app, emailcode = build(storage, EMAILCODE_LIMIT_PER_ADDRESS="3/hour")
    with app.test_request_context():
        for to in (
            "first.last@gmail.com",
            "FirstLast+x@googlemail.com",
            "f.i.r.s.t.last@gmail.com",
        ):
            emailcode.send("sign_up", to=to, client="c1")
        assert refused_scope(emailcode, "sign_up", to="firstlast@gmail.com", client="c2") == (
            "per_address"
        )
        emailcode.send("sign_up", to="someone@gmail.com", client="c2")


def test_client_account_and_global_budgets(storage: dict[str, Any]) -> None:
    app, emailcode = build(
        storage,
        EMAILCODE_LIMIT_PER_IP="2/hour",
        EMAILCODE_LIMIT_PER_ACCOUNT="3/hour",
        EMAILCODE_LIMIT_GLOBAL="5/day",
    )
    with app.test_request_context():
        emailcode.send("sign_up", to="a@example.com", client="one")
        emailcode.send("sign_up", to="b@example.com", client="one")
        assert refused_scope(emailcode, "sign_up", to="c@example.com", client="one") == "per_client"
        for n in range(3):
            emailcode.send("change_email", to=f"n{n}@example.com", account="7", client=f"k{n}")
        assert (
            refused_scope(emailcode, "change_email", to="x@example.com", account="7", client="k9")
            == "per_account"
        )
        assert refused_scope(emailcode, "sign_up", to="z@example.com", client="fresh") == "global"


def test_a_refused_budget_leaves_no_code_behind(storage: dict[str, Any]) -> None:
    app, emailcode = build(storage, EMAILCODE_LIMIT_PER_ADDRESS="1/hour")
    sent: list[Any] = []
    emailcode.sender(sent.append)
    with app.test_request_context():
        emailcode.send("sign_up", to="a@example.com", client="c")
        refused_scope(emailcode, "log_in", to="a@example.com", client="c")
    assert [mail.purpose for mail in sent] == ["sign_up"]


def test_the_checking_budget_counts_per_client(storage: dict[str, Any]) -> None:
    app, emailcode = build(storage, EMAILCODE_VERIFY_LIMIT_PER_IP="3/hour")
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("sign_up", to="a@example.com", client="c")
        bad = wrong_code(outbox[0].code)
        from flask_emailcode import CodeRefused

        for _ in range(3):
            with pytest.raises(CodeRefused):
                emailcode.verify("sign_up", address="a@example.com", code=bad, client="c")
        with pytest.raises(TooSoon) as refused:
            emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code, client="c")
        assert refused.value.scope == "checks"
        assert emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code, client="d")


def test_an_apps_own_budget_uses_the_same_mechanism(storage: dict[str, Any]) -> None:
    app, emailcode = build(storage)
    with app.app_context():
        tries = emailcode.budget("log-in", "2/hour", "a@example.com")
        other = emailcode.budget("log-in", "2/hour", "b@example.com")
        emailcode.spend(tries)
        emailcode.spend(tries, other)
        with pytest.raises(TooSoon) as refused:
            emailcode.spend(tries, other)
        assert refused.value.scope == "log-in"
        # All or nothing: the refused call counted nothing against ``other``.
        emailcode.spend(other)
    assert "a@example.com" not in tries.key


def test_budgets_can_be_turned_off_but_the_cooldown_stays(storage: dict[str, Any]) -> None:
    app, emailcode = build(
        storage, EMAILCODE_LIMIT_PER_ADDRESS="1/hour", EMAILCODE_RATELIMIT_ENABLED="false"
    )
    app.config["EMAILCODE_RESEND_COOLDOWN"] = 60
    with app.test_request_context():
        emailcode.send("sign_up", to="a@example.com")
        emailcode.send("log_in", to="a@example.com")
        assert refused_scope(emailcode, "log_in", to="a@example.com") == "cooldown"


def test_every_budget_counts_on_the_extensions_clock(storage: dict[str, Any]) -> None:
    clock = FakeClock()  # years away from the wall clock: nothing here may read that
    app, emailcode = build(storage, EMAILCODE_LIMIT_PER_ADDRESS="2/hour", EMAILCODE_CLOCK=clock)
    with app.test_request_context():
        emailcode.send("sign_up", to="a@example.com", client="c1")
        clock.advance(1200)
        emailcode.send("sign_up", to="a@example.com", client="c2")
        clock.advance(1200)
        with pytest.raises(TooSoon) as refused:
            emailcode.send("sign_up", to="a@example.com", client="c3")
        # The first send leaves the window an hour after it, on this clock.
        assert refused.value.retry_after == 1200
        clock.advance(1201)
        emailcode.send("sign_up", to="a@example.com", client="c4")
        tries = emailcode.budget("log-in", "1/minute", "a@example.com")
        emailcode.spend(tries)
        with pytest.raises(TooSoon):
            emailcode.spend(tries)
        clock.advance(61)
        emailcode.spend(tries)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_delivery_status_expires_on_the_extensions_clock(kind: str, tmp_path: Path) -> None:
    # Redis expires a status on its own clock, which no test moves.
    storage = {} if kind == "memory" else {"EMAILCODE_STORAGE_URI": f"sqlite:///{tmp_path / 's'}"}
    clock = FakeClock()
    app, emailcode = build(storage, EMAILCODE_CLOCK=clock)
    with app.test_request_context():
        sent = emailcode.send("sign_up", to="a@example.com")
        assert emailcode.status(sent.delivery) == "sent"
        clock.advance(sent.expires_in - 1)
        assert emailcode.status(sent.delivery) == "sent"
        clock.advance(1)
        assert emailcode.status(sent.delivery) is None
