"""Code mail through the app's own mail extension, to a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from _helpers import Clock, make_app
from flask_emailcode import EmailCode
from flask_emailcode.mail import CodeMail


def smtp_app(port: int, **config: Any) -> Flask:
    return make_app(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_DEFAULT_SENDER="Forum <noreply@forum.example>",
        # Both mail extensions hold mail back under TESTING unless told to send it.
        MAIL_BACKEND="smtp",
        MAIL_SUPPRESS_SEND=False,
        **config,
    )


def test_flask_mailman_sends_text_and_html_with_a_subject_of_its_own(smtp: Any) -> None:
    from flask_mailman import Mail

    port, inbox = smtp
    app = smtp_app(port)
    Mail(app)
    emailcode = EmailCode(app)
    with app.test_request_context():
        emailcode.send("change_email", to="new@example.com", account="7")
    (message,) = inbox.messages
    assert message["To"] == "new@example.com"
    assert message["From"] == "Forum <noreply@forum.example>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    code = next(line for line in text.splitlines() if line.strip() and line.isalnum())
    assert message["Subject"] == f"Email verification code: {code}"
    assert code in html and "10 minutes" in text
    assert "Sent " in text


def test_flask_mail_works_the_same_with_the_seed_readers_settings(smtp: Any) -> None:
    from flask_mail import Mail

    port, inbox = smtp
    app = smtp_app(port, EMAILCODE_CODE_IN_SUBJECT=False)
    Mail(app)
    emailcode = EmailCode(app)
    with app.test_request_context():
        emailcode.send("reset_password", to="a@example.com")
        emailcode.settle()
    (message,) = inbox.messages
    # No code in this subject: the time it was sent tells two mails apart.
    assert message["Subject"].startswith("Password reset code (sent ")
    assert message["To"] == "a@example.com"


def test_the_mail_is_in_the_requesters_language(smtp: Any) -> None:
    from flask_mailman import Mail

    port, inbox = smtp
    app = smtp_app(port)
    Mail(app)
    emailcode = EmailCode(app)
    with app.test_request_context(headers={"Accept-Language": "zh-CN,zh;q=0.9"}):
        emailcode.send("change_email", to="new@example.com", account="7")
    (message,) = inbox.messages
    assert message["Subject"].startswith("邮箱验证码：")
    assert "分钟内有效" in message.get_body(("plain",)).get_content()


def test_flask_babel_s_locale_wins_when_the_app_has_it(smtp: Any) -> None:
    from flask_babel import Babel
    from flask_mailman import Mail

    port, inbox = smtp
    app = smtp_app(port)
    Mail(app)
    Babel(app, locale_selector=lambda: "zh_Hans_CN")
    emailcode = EmailCode(app)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        emailcode.send("sign_up", to="a@example.com")
    assert inbox.messages[0]["Subject"].startswith("注册验证码")


def test_the_apps_own_template_overrides_the_extensions() -> None:
    app = make_app(EMAILCODE_SITE_NAME="Example Forum")
    app.template_folder = str(Path(__file__).parent / "override")
    emailcode = EmailCode(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("sign_up", to="a@example.com")
        emailcode.send("change_email", to="a@example.com", account="1")
    sign_up, change = outbox
    assert sign_up.text.startswith(
        f"Welcome to the Example Forum. Your sign-up code: {sign_up.code}"
    )
    assert sign_up.subject == f"Example Forum Sign-up code: {sign_up.code}"
    assert change.text.startswith("Hello,")  # no override: the extension's own


def test_a_sender_hook_receives_a_typed_mail_and_no_code_reaches_its_repr(clock: Clock) -> None:
    received: list[CodeMail] = []
    emailcode = EmailCode(sender=received.append, clock=clock)
    app = make_app(MAIL_DEFAULT_SENDER="noreply@forum.example")
    emailcode.init_app(app)
    with app.test_request_context():
        sent = emailcode.send("log_in", to="A@Example.com")
        (mail,) = received
        text = mail.text  # written on first use, in the app's context
    assert isinstance(mail, CodeMail)
    assert (mail.to, mail.purpose, mail.delivery) == ("A@example.com", "log_in", sent.delivery)
    assert mail.from_address == "noreply@forum.example"
    assert mail.sent_at.timestamp() == pytest.approx(clock.now)
    assert mail.code in text and mail.code not in repr(mail)


def test_each_code_mail_has_its_own_subject(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    app = make_app(EMAILCODE_CODE_IN_SUBJECT="sign_up", EMAILCODE_RESEND_COOLDOWN=0)
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        for _ in range(2):
            emailcode.send("log_in", to="a@example.com")
            clock.advance(1)
    assert outbox[0].subject != outbox[1].subject
    assert outbox[0].code not in outbox[0].subject


def test_the_catalogs_are_compiled_and_complete() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    import flask_emailcode

    root = Path(flask_emailcode.__file__).parent / "translations" / "zh_Hans" / "LC_MESSAGES"
    with (
        (root / "flask_emailcode.po").open("rb") as po,
        (root / "flask_emailcode.mo").open("rb") as mo,
    ):
        source, compiled = read_po(po), read_mo(mo)
    untranslated = [m.id for m in source if m.id and not m.string]
    assert untranslated == []
    assert {m.id: m.string for m in source if m.id} == {m.id: m.string for m in compiled if m.id}
