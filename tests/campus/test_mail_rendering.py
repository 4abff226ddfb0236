"""Mail rendered outside Flask reads exactly as Flask and Flask-Babel render it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from flask import Flask, render_template
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _

from campus.mail.messages import _SUBJECTS, KINDS, MailRequest, render
from campus.support.locale import site_time

# Every value any mail template reads, so each kind renders whole; and one that
# HTML must escape, so that autoescaping is compared too.
CONTEXT = {
    "code": "K7Q2ZD",
    "minutes": 10,
    "change": "added",
    "address": "z***@example.edu",
    "new_address": "n<b>&***@example.edu",
    "changed_at": "2026-11-27 10:00 (UTC) <i>",
    "reset_url": "https://forum.example.edu/password/reset?a=1&b=<2>",
}


def through_flask(app: Flask, request: MailRequest) -> tuple[str, str, str]:
    """Subject, text and HTML as ``render_template`` under ``force_locale`` gives them."""
    context = dict(request.context)
    with app.test_request_context(), force_locale(request.locale):
        title = str(_(str(_SUBJECTS[request.kind])))
        if "sent_at" in context:
            moment = datetime.fromtimestamp(float(context["sent_at"]), UTC)
            context["sent_at"] = site_time(moment)
            if context["code_in_subject"]:
                title = _("%(subject)s: %(code)s", subject=title, code=context["code"])
            else:
                sent = format_datetime(moment, "HH:mm:ss")
                title = _("%(subject)s (sent %(time)s)", subject=title, time=sent)
        text = render_template(f"mail/{request.kind}.txt", **context)
        html = render_template(f"mail/{request.kind}.html", **context)
    return title, text, html


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("code_in_subject", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_mail_renders_as_flask_renders_it(
    app: Flask, kind: str, locale: str, code_in_subject: bool
) -> None:
    context = dict(CONTEXT)
    if kind.endswith("_code"):
        context |= {"sent_at": time.time(), "code_in_subject": code_in_subject}
    request = MailRequest(kind=kind, to="someone@example.edu", locale=locale, context=context)
    with app.app_context():
        message = render(request)
    title, text, html = through_flask(app, request)
    assert message.subject == title
    assert message.body == text
    assert message.alternatives == [(html, "text/html")]


def test_each_language_is_its_own(app: Flask) -> None:
    context = CONTEXT | {"sent_at": time.time(), "code_in_subject": False}
    with app.app_context():
        english, chinese = (
            render(
                MailRequest(kind="log_in_code", to="a@example.edu", locale=locale, context=context)
            )
            for locale in ("en", "zh")
        )
    assert english.subject != chinese.subject
    assert english.body != chinese.body
