"""The development mailbox: messages land as files a newcomer reads in the browser."""

from __future__ import annotations

import email
import email.policy
import os
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import current_app
from flask_mailman.backends.base import BaseEmailBackend

KEEP = 50


class MailboxEmailBackend(BaseEmailBackend):  # type: ignore[misc]
    """Writes each message to ``MAILBOX_DIR`` as an .eml file; keeps the newest few."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.directory = Path(current_app.config["MAILBOX_DIR"])

    def send_messages(self, email_messages: list[Any]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
            temporary = self.directory / f".{name}"
            temporary.write_bytes(message.message().as_bytes())
            os.replace(temporary, self.directory / name)
        for old in sorted(self.directory.glob("*.eml"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return len(email_messages)


@dataclass(frozen=True)
class Letter:
    """A message as the mailbox page shows it."""

    id: str
    to: str
    subject: str
    text: str
    html: str


def read_mailbox(directory: Path) -> list[Letter]:
    """Newest first."""
    letters = []
    for path in sorted(directory.glob("*.eml"), reverse=True):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if not isinstance(parsed, EmailMessage):
            continue
        text = parsed.get_body(("plain",))
        html = parsed.get_body(("html",))
        letters.append(
            Letter(
                id=path.stem,
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                text=text.get_content() if text else "",
                html=html.get_content() if html else "",
            )
        )
    return letters
