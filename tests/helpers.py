"""What nearly every app test does: log in, read the code from the last mail, type a wrong code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from campus.flows.accounts import create_account
from campus.mail.mailbox import Letter, read_mailbox
from campus.models import Role
from campus.support.quiet import quiet
from flask_emailcode.core.policy import DEFAULT_ALPHABET
from tests.smtp_server import Inbox

PASSWORD = "correct horse battery"

# A line holding nothing but a code, as every code mail has exactly one of.
CODE_LINE = re.compile(r"^\s*([A-Z0-9]{4,32})\s*$", re.MULTILINE)


@dataclass
class Person:
    """Someone with an account: its id as the database gave it, never a number a test assumes."""

    id: int
    email: str
    password: str = PASSWORD
    is_staff: bool = True


class Api:
    """A test client that sends the page's CSRF token the way the pages do."""

    def __init__(self, client: FlaskClient, language: str | None = None) -> None:
        self.client = client
        self.language = language
        self.token: str | None = None

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"X-CSRFToken": self.token or "", **extra}
        if self.language:
            headers["Accept-Language"] = self.language
        return headers

    def refresh_token(self, path: str = "/cms/login") -> None:
        page = self.client.get(path, headers=self.headers()).get_data(as_text=True)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
        assert found, "page has no csrf-token meta tag"
        self.token = found.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if self.token is None:
            self.refresh_token()
        headers = self.headers(**kwargs.pop("headers", {}))
        if "json" not in kwargs:
            kwargs["data"] = data or {}
        elif data is not None:
            raise TypeError("pass data or json, not both")
        response = self.client.post(path, headers=headers, **kwargs)
        check_envelope(response)
        return response


def check_envelope(response: Any) -> None:
    """Every JSON answer is the seed's envelope and its status equals its code."""
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == response.status_code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["data"], dict)


def log_in(who: Person, into: Flask | Api, *, password: str | None = None) -> Api:
    """Log ``who`` in through the page people use (the CMS's for staff); a client ready to post."""
    api = into if isinstance(into, Api) else Api(into.test_client())
    page = "/cms/login" if who.is_staff else "/login"
    api.refresh_token(page)
    response = api.post(page, {"email": who.email, "password": password or who.password})
    assert response.status_code == 200, response.get_json()
    api.refresh_token(response.get_json()["data"]["next"])
    return api


def member(app: Flask, email: str = "member@example.com") -> Person:
    """A member account (sign-up's kind), created directly."""
    with app.app_context():
        account = create_account(email, PASSWORD, role=Role.MEMBER)
        return Person(account.id, account.email, is_staff=False)


def settle(app: Flask) -> None:
    """Wait for the work done after the answer (sign-up and reset mail)."""
    with app.app_context():
        quiet().wait()


def letters(app: Flask, to: str | None = None) -> list[Letter]:
    """The development mailbox, newest first, once the work after each answer is done."""
    settle(app)
    found = read_mailbox(Path(app.config["MAILBOX_DIR"]))
    return [letter for letter in found if to is None or letter.to == to]


def code_in(text: str) -> str:
    """The one code a mail's text holds."""
    found = CODE_LINE.findall(text)
    assert len(found) == 1, text
    return str(found[0])


def last_code(source: Flask | Inbox, to: str | None = None) -> str:
    """The code in the newest mail (to ``to``): the app's development mailbox, or an SMTP inbox."""
    if isinstance(source, Flask):
        mail = letters(source, to)
        assert mail, f"no mail to {to}"
        return code_in(mail[0].text)
    received = [r for r in source.received if to is None or to in r.rcpt_tos]
    assert received, f"no mail to {to}"
    body = received[-1].message.get_body(("plain",))
    assert body is not None
    return code_in(body.get_content())


def wrong_code(code: str, alphabet: str = DEFAULT_ALPHABET) -> str:
    """A well-formed code that differs from ``code`` in its first character."""
    other = next(ch for ch in alphabet if ch != code[0])
    return other + code[1:]


def add_addresses(app: Flask, owner: Person, *others: str) -> list[str]:
    """Give the account more verified addresses, as if each had been added by code."""
    from campus.extensions import db
    from campus.models import Account, AccountEmail

    with app.app_context():
        account = db.session.get(Account, owner.id)
        assert account is not None
        for place, other in enumerate(others, start=len(account.addresses) + 1):
            account.addresses.append(AccountEmail(email=other, is_primary=False, place=place))
        db.session.commit()
    return [owner.email, *others]
