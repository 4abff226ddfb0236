"""The development mailbox page. Registered only in development."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template

from campus.mail.mailbox import read_mailbox

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/mailbox")
def mailbox() -> str:
    letters = read_mailbox(Path(current_app.config["MAILBOX_DIR"]))
    return render_template("dev/mailbox.html", letters=letters)
