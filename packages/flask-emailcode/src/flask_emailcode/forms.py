"""WTForms: a field for the typed code, and a form that spends it last.

``CodeCheckedForm.validate`` runs every other validator first and checks the
code only when they all passed, so a mistake in another field (a password too
short, say) never costs an attempt. After success the field's ``proof`` is set.
A wrong code is a field error; ``field.refusal`` keeps the ``CodeRefused``
(with ``attempts_left``). A cooldown or the failure cap raises, for the
handlers to answer 429.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

from flask_emailcode.core import normalize_code
from flask_emailcode.errors import CodeRefused
from flask_emailcode.extension import current_emailcode
from flask_emailcode.results import Proof
from flask_emailcode.writing import request_locale, supported, translations

Value = str | Callable[[], str | None] | None


class EmailCodeField(StringField):  # type: ignore[misc]
    """The typed code: spaces, dashes and case do not matter; paste always works.

    ``purpose``: what the code proves; ``address``: the name of the form's field
    holding the address, or a callable giving it; ``account``: the account the code
    is bound to (a string or a callable), None for address-keyed codes.
    """

    def __init__(
        self,
        label: str | None = None,
        validators: list[Any] | None = None,
        *,
        purpose: str,
        address: Value,
        account: Value = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators or [InputRequired()], **kwargs)
        self.purpose = purpose
        self.address_source = address
        self.account_source = account
        self.proof: Proof | None = None
        self.refusal: CodeRefused | None = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        typed: Any = getattr(self, "data", None)
        if isinstance(typed, str):
            self.data = normalize_code(typed)

    def __call__(self, **kwargs: Any) -> Any:
        length = int(current_app.config["EMAILCODE_LENGTH"])
        # iOS and Android offer a code from the latest mail or message for this input.
        kwargs.setdefault("autocomplete", "one-time-code")
        kwargs.setdefault("inputmode", "text")
        kwargs.setdefault("autocapitalize", "characters")
        kwargs.setdefault("spellcheck", "false")
        # Room for the spaces and dashes people type or paste between groups.
        kwargs.setdefault("maxlength", str(length * 2))
        return super().__call__(**kwargs)


class CodeCheckedForm(FlaskForm):  # type: ignore[misc]
    """A FlaskForm whose ``EmailCodeField``s are checked (and spent) after every other
    field has validated."""

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        for field in self:
            if isinstance(field, EmailCodeField) and not self._spend(field):
                return False
        return True

    def _spend(self, field: EmailCodeField) -> bool:
        address = _value(self, field.address_source)
        account = _value(self, field.account_source)
        try:
            field.proof = current_emailcode().verify(
                field.purpose, address=address or "", code=field.data or "", account=account
            )
        except CodeRefused as refused:
            field.refusal = refused
            field.errors = [*field.errors, _refusal_text(refused)]
            return False
        return True


def _value(form: FlaskForm, source: Value) -> str | None:
    if source is None:
        return None
    if callable(source):
        return source()
    return str(form[source].data) if source in form else source


def _refusal_text(refused: CodeRefused) -> str:
    default = supported(current_app.config["EMAILCODE_DEFAULT_LOCALE"], "en")
    _ = translations(request_locale(default)).gettext
    if refused.outcome.value == "wrong":
        return _("The code is not right. %(left)d tries left.") % {"left": refused.attempts_left}
    if refused.outcome.value == "expired":
        return _("The code has expired. Ask for a new one.")
    return _("The code has been used. Ask for a new one.")
