"""Base forms: read form or JSON bodies, an address field, and field errors as BadInput."""

from __future__ import annotations

from functools import cache
from typing import Any

from babel.support import NullTranslations, Translations
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import Field, Form, PasswordField, StringField
from wtforms.i18n import messages_path
from wtforms.validators import InputRequired, Length, Optional, StopValidation, ValidationError

from campus.emailcode import normalize_code
from campus.support.addresses import BadAddress, parse_address
from campus.support.locale import current_locale
from campus.web.errors import BadInput

# Generous bounds on raw fields; the real checks happen after parsing.
MAX_FIELD = 1024


def body() -> MultiDict[str, str]:
    """The request's fields, from a form or a JSON object; anything else is bad input."""
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not all(map(_is_text, data)):
            raise BadInput(_l("Bad request."))
        fields = {k: v if isinstance(v, str) else "" for k, v in data.items()}
        if not all(map(_is_text, fields.values())):
            raise BadInput(_l("Bad request."))
        return MultiDict(fields)
    return MultiDict(request.form.items(multi=True))


def _is_text(value: object) -> bool:
    """A string that is real Unicode text: JSON can carry lone surrogates
    (``"\\ud800"``), which no password hasher, validator or database accepts."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@cache
def _wtforms_catalog(locale: str) -> NullTranslations:
    return Translations.load(messages_path(), [locale], domain="wtforms")


class ApiForm(FlaskForm):  # type: ignore[misc]
    """A form filled from ``body()``; CSRF is checked app-wide by CSRFProtect."""

    class Meta:
        csrf = False

        def get_translations(self, form: Form) -> NullTranslations:
            # Flask-WTF reads WTForms' catalog from disk for every form it builds;
            # it never changes while the app runs, so read it once per language.
            return _wtforms_catalog(current_locale())

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(formdata=body(), **kwargs)

    def validated(self) -> ApiForm:
        """Validate, or raise BadInput naming the first field at fault."""
        if not self.validate():
            first = next(iter(self.errors.values()))
            raise BadInput(
                str(first[0]),
                errors={name: str(errs[0]) for name, errs in self.errors.items()},
            )
        return self


class AddressField(StringField):  # type: ignore[misc]
    """An email address: once the form validates, ``data`` is a checked ``Address``."""

    data: Any

    def __init__(self, **kwargs: Any) -> None:
        validators = [
            InputRequired(message=_l("Please enter an email address.")),
            Length(max=MAX_FIELD, message=_l("Please enter a valid email address.")),
        ]
        super().__init__(validators=validators, **kwargs)

    def post_validate(self, form: Form, validation_stopped: bool) -> None:
        if self.errors:
            return
        typed = str(self.data)
        if not typed.strip():
            self.errors.append(_l("Please enter an email address."))
            return
        try:
            self.data = parse_address(typed)
        except BadAddress:
            self.errors.append(_l("Please enter a valid email address."))


class AddressForm(ApiForm):
    email = AddressField()


def code_field() -> StringField:
    return StringField(
        validators=[InputRequired(message=_l("Please enter the code from the email.")), code_shape]
    )


def code_shape(form: Form, field: Field) -> None:
    """The code has the configured length once spaces and dashes are dropped."""
    length = int(current_app.config["EMAILCODE_LENGTH"])
    if len(field.data or "") > MAX_FIELD or len(normalize_code(field.data or "")) != length:
        raise ValidationError(_l("Please enter the %(length)d-character code.", length=length))


class LoginForm(ApiForm):
    """The log-in pages' shape: an address and a password, or an address and a mailed code.

    For a password the address is taken as typed: a malformed one is answered like
    a wrong password, and spends the same log-in budget.
    """

    email = StringField(
        validators=[
            InputRequired(message=_l("Please enter an email address.")),
            Length(max=MAX_FIELD, message=_l("Please enter a valid email address.")),
        ]
    )
    password = PasswordField()
    code = StringField(validators=[Optional(), code_shape])

    def validate_password(self, field: Field) -> None:
        if not field.data and not self.code.data:
            raise StopValidation(field.gettext("This field is required."))


class PasswordForm(ApiForm):
    password = PasswordField(validators=[InputRequired()])
