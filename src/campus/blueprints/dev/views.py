"""The development mailbox: every message the app sent, newest first."""

from __future__ import annotations

from pathlib import Path

from flask import current_app, render_template

from campus.blueprints.dev import bp
from campus.mail.mailbox import read_mailbox


@bp.get("/mailbox")
def mailbox() -> str:
    letters = read_mailbox(Path(current_app.config["MAILBOX_DIR"]))
    return render_template("dev/mailbox.html", letters=letters)
