"""The worker's generator writes every message exactly as the standard one would."""

from __future__ import annotations

import io
import re
import time
from email.generator import BytesGenerator

import pytest
from flask import Flask
from flask_mailman.message import SafeMIMEText

from campus.mail import mime
from campus.mail.messages import KINDS, MailRequest, _Composed, render

# Every value any mail template reads, so each kind renders whole.
CONTEXT = {
    "code": "K7Q2ZD",
    "minutes": 10,
    "change": "added",
    "address": "z***@example.edu",
    "new_address": "n***@example.edu",
    "changed_at": "2026-11-27 10:00 (UTC)",
    "reset_url": "https://forum.example.edu/password/reset",
}


def stock_bytes(message: object) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False).flatten(message, linesep="\r\n")
    return out.getvalue()


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("code_in_subject", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_mail_is_written_as_the_standard_generator_writes_it(
    app: Flask, kind: str, locale: str, code_in_subject: bool
) -> None:
    context = dict(CONTEXT)
    if kind.endswith("_code"):
        context |= {"sent_at": time.time(), "code_in_subject": code_in_subject}
    request = MailRequest(kind=kind, to="someone@example.edu", locale=locale, context=context)
    with app.app_context():
        built = render(request).message()
        ours = built.as_bytes(linesep="\r\n")
    assert isinstance(built, mime.Alternatives)
    # Writing chose the boundary; the standard generator keeps a boundary it is given.
    assert built.get_boundary().encode() in ours
    assert ours == stock_bytes(built)


def as_flask_mailman_writes_it(message: _Composed, written: bytes) -> bytes:
    """The library's own way: its message tree, by the standard generator, same boundary."""
    boundary = re.search(rb'boundary="([^"]+)"', written)
    assert boundary is not None
    built = message.message()
    built.set_boundary(boundary.group(1).decode())
    return stock_bytes(built)


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize("code_in_subject", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_mail_goes_over_the_wire_as_flask_mailman_writes_it(
    app: Flask, kind: str, locale: str, code_in_subject: bool
) -> None:
    context = dict(CONTEXT)
    if kind.endswith("_code"):
        context |= {"sent_at": time.time(), "code_in_subject": code_in_subject}
    request = MailRequest(kind=kind, to="someone@example.edu", locale=locale, context=context)
    with app.app_context():
        message = render(request)
        written = message.wire()
        assert message._built is None  # written straight, no tree built
        assert written == as_flask_mailman_writes_it(message, written)


@pytest.mark.parametrize(
    ("sender", "subject", "text", "straight"),
    [
        ("Campus <no-reply@campus.example>", "ascii subject", "plain ASCII text\nline two", True),
        ("no-reply@campus.example", "主题 " * 30, "line\r\nends\rof every\nkind\n", True),
        ("Campus <no-reply@campus.example>", "long line", "x" * 999, False),
        ("校园论坛 <no-reply@campus.example>", "a name encoded to one line", "text", True),
        ("校园论坛" * 12 + " <no-reply@campus.example>", "a name to fold", "text", False),
    ],
)
def test_written_straight_or_through_the_tree_the_bytes_are_the_same(
    app: Flask, sender: str, subject: str, text: str, straight: bool
) -> None:
    with app.app_context():
        message = _Composed(
            subject=subject,
            body=text,
            from_email=sender,
            to=["someone@example.edu"],
            headers={"Date": "Fri, 04 Dec 2026 17:00:00 -0000", "Message-ID": "<a@campus.example>"},
        )
        message.attach_alternative(f"<p>{text}</p>", "text/html")
        written = message.wire()
        assert (message._built is None) is straight
        assert written == as_flask_mailman_writes_it(message, written)


@pytest.mark.parametrize(
    "value",
    [
        "plain words that fit",
        "two  spaces inside",
        " leading space",
        "x" * 90,
        "a, list; of, parts, " * 6,
        "ünïcode value",
        "=?utf-8?b?Zm9v?= looks encoded",
    ],
)
def test_any_header_is_written_as_the_standard_generator_writes_it(value: str) -> None:
    part = SafeMIMEText("body", "plain", "utf-8")
    part["X-Probe"] = value
    ours = io.BytesIO()
    mime.Generator(ours, mangle_from_=False).flatten(part, linesep="\r\n")
    assert ours.getvalue() == stock_bytes(part)


def test_a_boundary_never_appears_in_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["a" * 20, "b" * 20])
    monkeypatch.setattr(mime.secrets, "token_hex", lambda _: next(draws))
    text = b"body that happens to hold =_" + b"a" * 20
    assert mime.Generator._make_boundary(text) == "=_" + "b" * 20
