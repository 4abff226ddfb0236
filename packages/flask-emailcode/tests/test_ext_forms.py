"""EmailCodeField and CodeCheckedForm: the code is spent only once every other field passed."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from wtforms import EmailField, PasswordField
from wtforms.validators import Email, InputRequired, Length

from _helpers import make_app
from flask_emailcode import EmailCode
from flask_emailcode.forms import CodeCheckedForm, EmailCodeField
from flask_emailcode.testing import wrong_code


class ResetForm(CodeCheckedForm):  # type: ignore[misc]
    email = EmailField(validators=[InputRequired(), Email()])
    code = EmailCodeField(purpose="reset_password", address="email")
    password = PasswordField(validators=[InputRequired(), Length(min=12)])


@pytest.fixture
def app() -> Flask:
    app = make_app(WTF_CSRF_ENABLED=False)
    EmailCode(app)
    return app


def issue(app: Flask) -> str:
    emailcode = app.extensions["emailcode"].extension
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("reset_password", to="a@example.com")
    return str(outbox[0].code)


def form(app: Flask, **data: Any) -> tuple[ResetForm, bool]:
    with app.test_request_context(method="POST", data=data):
        submitted = ResetForm()
        return submitted, submitted.validate()


def test_a_mistake_in_another_field_costs_no_attempt(app: Flask) -> None:
    code = issue(app)
    short, ok = form(app, email="a@example.com", code=wrong_code(code), password="short")
    assert not ok and short.password.errors and not short.code.errors
    wrong, ok = form(app, email="a@example.com", code=wrong_code(code), password="a" * 12)
    assert not ok and wrong.code.refusal is not None
    # One wrong code counted, not two: the first form never reached the code.
    assert wrong.code.refusal.attempts_left == 4
    right, ok = form(
        app, email="a@example.com", code=f"{code[:3].lower()} {code[3:]}", password="a" * 12
    )
    assert ok and right.code.proof is not None
    assert right.code.proof.address == "a@example.com"


def test_the_field_renders_for_one_time_code_autofill_and_allows_paste(app: Flask) -> None:
    with app.test_request_context():
        html = str(ResetForm().code())
    for attribute in (
        'autocomplete="one-time-code"',
        'inputmode="text"',
        'autocapitalize="characters"',
        'maxlength="12"',
    ):
        assert attribute in html
    assert "onpaste" not in html


def test_the_field_normalises_what_is_typed(app: Flask) -> None:
    submitted, _ = form(app, email="a@example.com", code=" ab-cd ef ", password="x")
    assert submitted.code.data == "ABCDEF"
