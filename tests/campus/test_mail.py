"""What the change-email message says, in both languages."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask_babel import force_locale
from flask_babel import gettext as _

from tests.app_fixtures import add_staff
from tests.helpers import Api, Person, last_code, letters, log_in

NEW = "new@example.com"


def only_message(app: Flask) -> EmailMessage:
    files = sorted(Path(app.config["MAILBOX_DIR"]).glob("*.eml"))
    assert len(files) == 1
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize(("language", "locale"), [(None, "zh"), ("en", "en"), ("zh-CN", "zh")])
def test_message_has_text_and_html_in_the_requesters_language(
    app: Flask, staff: Person, language: str | None, locale: str
) -> None:
    api = Api(app.test_client(), language)
    log_in(staff, api)
    assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 200
    message = only_message(app)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    code = last_code(app)
    assert code in html.get_content()
    minutes = app.config["EMAILCODE_TTL"] // 60
    assert str(minutes) in text.get_content()
    with app.test_request_context(), force_locale(locale):
        subject = _("Campus forum email verification code")
    colon = "：" if locale == "zh" else ": "  # the code follows the seed's subject
    assert message["Subject"] == f"{subject}{colon}{code}"
    assert cjk(text.get_content()) is (locale == "zh")
    assert message["To"] == NEW


def test_chinese_subject_is_the_seeds(app: Flask, staff: Person) -> None:
    api = Api(app.test_client())
    log_in(staff, api)
    api.post("/cms/email_captcha", {"email": NEW})
    assert only_message(app)["Subject"] == f"校园论坛邮箱验证码：{last_code(app)}"


def test_validity_follows_the_configured_ttl(make_app: Callable[..., Flask]) -> None:
    app = make_app(EMAILCODE_TTL=900)
    api = Api(app.test_client(), "en")
    log_in(add_staff(app, "staff@example.com"), api)
    api.post("/cms/email_captcha", {"email": NEW})
    text = only_message(app).get_body(("plain",))
    assert text is not None
    assert "15 minutes" in text.get_content()


def test_dev_mailbox_page_shows_the_code(app: Flask, staff: Person) -> None:
    api = Api(app.test_client())
    log_in(staff, api)
    api.post("/cms/email_captcha", {"email": NEW})
    page = api.client.get("/dev/mailbox").get_data(as_text=True)
    assert last_code(app) in page
    assert NEW in page


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_old_address_is_told_of_the_change(app: Flask, staff: Person, language: str) -> None:
    from campus.support.addresses import mask

    api = Api(app.test_client(), language)
    log_in(staff, api)
    api.post("/cms/email_captcha", {"email": NEW})
    code = last_code(app)
    assert api.post("/cms/resetemail", {"email": NEW, "captcha": code}).status_code == 200
    notices = [letter for letter in letters(app) if letter.to == staff.email]
    assert len(notices) == 1
    notice = notices[0]
    assert mask(NEW) in notice.text and mask(NEW) in notice.html
    assert NEW not in notice.text + notice.html  # partly masked, never whole
    with app.app_context():
        from campus.extensions import db
        from campus.models import Account

        account = db.session.get(Account, staff.id)
        assert account is not None and account.email_changed_at is not None
        local = account.email_changed_at.astimezone(ZoneInfo(app.config["SITE_TIMEZONE"]))
    # In the site's time zone, written the reader's way.
    stamp = local.strftime("%-I:%M:%S") if language == "en" else local.strftime("%H:%M:%S")
    assert stamp in notice.text
    assert ("China Standard Time" if language == "en" else "中国标准时间") in notice.text
    assert cjk(notice.text) is (language != "en")
    with app.test_request_context(), force_locale("en" if language == "en" else "zh"):
        assert notice.subject == _("Your Campus Forum email address was changed")
    assert notice.subject != _subject_of_codes(app)


def _subject_of_codes(app: Flask) -> str:
    return next(letter.subject for letter in letters(app) if letter.to == NEW)
