"""Shapes of the CMS's requests."""

from __future__ import annotations

from campus.forms import ApiForm, code_field, email_field


class EmailCaptchaForm(ApiForm):
    email = email_field()


class ResetEmailForm(ApiForm):
    email = email_field()
    captcha = code_field()
