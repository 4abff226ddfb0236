"""Shapes of the CMS's requests."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import InputRequired

from campus.forms import ApiForm, code_field, email_field


class LoginForm(ApiForm):
    email = email_field()
    password = PasswordField(validators=[InputRequired()])


class EmailCaptchaForm(ApiForm):
    email = email_field()


class ResetEmailForm(ApiForm):
    email = email_field()
    captcha = code_field()
