"""Shapes of the CMS's requests: the seed's field names (``captcha`` for the code)."""

from __future__ import annotations

from campus.web.forms import AddressForm, code_field


class EmailCaptchaForm(AddressForm):
    pass


class ResetEmailForm(AddressForm):
    captcha = code_field()
