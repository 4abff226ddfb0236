"""Shapes of the sign-up, log-in and reset requests."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import InputRequired

from campus.forms import ApiForm, code_field, email_field


class LoginForm(ApiForm):
    email = email_field()
    password = PasswordField(validators=[InputRequired()])


class AddressForm(ApiForm):
    email = email_field()


class CodeAndPasswordForm(ApiForm):
    email = email_field()
    code = code_field()
    password = PasswordField(validators=[InputRequired()])
