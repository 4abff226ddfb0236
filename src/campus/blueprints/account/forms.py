"""Shapes of a member's requests."""

from __future__ import annotations

from campus.web.forms import AddressForm, code_field

__all__ = ["AddAddressForm", "AddressForm", "ChangeEmailForm"]


class ChangeEmailForm(AddressForm):
    code = code_field()


class AddAddressForm(AddressForm):
    code = code_field()
