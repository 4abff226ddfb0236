"""Shapes of the sign-up and reset requests (log-in's is ``web.forms.LoginForm``)."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import InputRequired

from campus.web.forms import AddressField, AddressForm, ApiForm, code_field

__all__ = ["AddressForm", "CodeAndPasswordForm"]


class CodeAndPasswordForm(ApiForm):
    email = AddressField()
    code = code_field()
    password = PasswordField(validators=[InputRequired()])
