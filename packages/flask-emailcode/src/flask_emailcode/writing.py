"""Writing a code mail: the language, the subject, the text and HTML parts.

The extension's catalogs (``translations/<locale>/LC_MESSAGES/flask_emailcode.mo``)
are compiled into the wheel and read with the standard ``gettext``, so an app
needs no Flask-Babel; with it, the mail follows the app's own locale selector.
Templates are ``emailcode/mail/<purpose>.txt`` and ``.html``, falling back to
``emailcode/mail/code.*``; an app overrides either by the same path in its own
templates folder.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from flask import current_app, has_request_context, render_template, request

LOCALES = ("en", "zh_Hans")
_CATALOGS = Path(__file__).parent / "translations"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    return gettext.translation("flask_emailcode", str(_CATALOGS), languages=[locale], fallback=True)


def supported(locale: str | None, default: str) -> str:
    """The extension's catalog for a locale name (``zh``, ``zh_CN``, ``zh-Hans``, ``en-GB``)."""
    if not locale:
        return default
    language = str(locale).replace("-", "_").split("_")[0].lower()
    if language == "zh":
        return "zh_Hans"
    return language if language in LOCALES else default


def request_locale(default: str) -> str:
    """The app's Flask-Babel locale when it has one, else the request's best match."""
    if "babel" in current_app.extensions:
        from flask_babel import get_locale

        found = get_locale()
        if found is not None:
            return supported(str(found), default)
    if has_request_context():
        return supported(request.accept_languages.best_match(["en", "zh"]), default)
    return default


def N_(text: str) -> str:
    """Marks a string for the catalog; it is translated where it is shown."""
    return text


_INTROS = {
    "sign_up": N_("You asked to sign up with this address. Your code is:"),
    "change_email": N_("You asked to use this address for your account. Your code is:"),
    "add_email": N_("You asked to add this address to your account. Your code is:"),
    "reset_password": N_("You asked to reset your password. Your code is:"),
    "log_in": N_("You asked to log in with this address. Your code is:"),
}
_ANY_INTRO = N_("Your verification code is:")
_ANY_SUBJECT = N_("Verification code")
_SUBJECTS = {
    "sign_up": N_("Sign-up code"),
    "change_email": N_("Email verification code"),
    "add_email": N_("Address verification code"),
    "reset_password": N_("Password reset code"),
    "log_in": N_("Log-in code"),
}


def write(
    *,
    purpose: str,
    code: str,
    locale: str,
    expires_in: int,
    sent_at: datetime,
    code_in_subject: bool,
    subject: str | None,
    template: str | None,
) -> tuple[str, str, str]:
    """``(subject, text, html)`` of one code mail, in ``locale``."""
    catalog = translations(locale)
    _ = catalog.gettext
    site = current_app.config["EMAILCODE_SITE_NAME"]
    if subject is None:
        fixed = _(_SUBJECTS.get(purpose, _ANY_SUBJECT))
        fixed = f"{site} {fixed}" if site else fixed
    else:
        fixed = subject
    shown = sent_at.astimezone(UTC).strftime("%H:%M:%S UTC")
    # Each mail has a subject of its own, so that mail clients do not fold a resend
    # into the earlier mail's thread: the code, or the time it was sent.
    if code_in_subject:
        title = _("%(subject)s: %(code)s") % {"subject": fixed, "code": code}
    else:
        title = _("%(subject)s (sent %(time)s)") % {"subject": fixed, "time": shown}
    if any(ch in title for ch in "\r\n\x00"):
        raise ValueError("a subject holds a line break: EMAILCODE_SITE_NAME or subject")
    context = {
        "_": lambda text, **values: (_(text) % values) if values else _(text),
        "code": code,
        "intro": _(_INTROS.get(purpose, _ANY_INTRO)),
        "minutes": max(1, expires_in // 60),
        "sent_at": shown,
        "purpose": purpose,
        "lang": locale.replace("_", "-"),
    }
    base = template or purpose
    text = render_template([f"emailcode/mail/{base}.txt", "emailcode/mail/code.txt"], **context)
    html = render_template([f"emailcode/mail/{base}.html", "emailcode/mail/code.html"], **context)
    return title, text, html
