"""Shapes of the site-wide requests."""

from __future__ import annotations

from campus.web.forms import PasswordForm

__all__ = ["ReauthForm"]


class ReauthForm(PasswordForm):
    pass
