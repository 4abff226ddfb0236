"""Writing a composed message out as bytes, at the cost a worker sending hundreds a second needs.

The standard generator folds every header through ``email.header.Header``,
even a short ASCII one that needs no folding, and picks each multipart boundary
by compiling a new regular expression around a random token. Together that is
most of what sending one code mail costs a worker. This generator writes a
header that fits on one line as it is, and hands every other header (a
non-ASCII subject, anything long or unusual) to the policy's own folding;
its boundary is a random token it checks is absent from the parts. The output
is byte for byte what the standard generator writes for the same boundary
(``tests/campus/test_mail_mime.py``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from email.generator import BytesGenerator
from email.header import Header
from io import BytesIO
from typing import Any

from flask_mailman.message import SafeMIMEMultipart

# What compat32 would write unchanged: printable ASCII, words split by single
# spaces, nothing a folder would rewrite.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
# Folding starts beyond this many characters, counting the name and ": ".
_LINE = 78
# SMTP's limit on a line of the body, in octets (RFC 5322 2.1.1).
_BODY_LINE = 998
_CRLF = "\r\n"
# The line ends the standard generator rewrites (its own ``NLCRE``).
_NEWLINE = re.compile(r"\r\n|\r|\n")


class Generator(BytesGenerator):
    def _write_headers(self, msg: Any) -> None:
        # The standard generator's own state, which its type stubs do not declare.
        this: Any = self
        write, newline, fold = this._fp.write, this._encoded_NL, this.policy.fold_binary
        for name, value in msg.raw_items():
            if (
                isinstance(value, str)
                and len(name) + 2 + len(value) <= _LINE
                and _PLAIN.fullmatch(value)
            ):
                write(f"{name}: {value}".encode("ascii") + newline)
            else:
                write(fold(name, value))
        self.write(this._NL)

    @classmethod
    def _make_boundary(cls, text: Any = None) -> str:
        # Short enough that the Content-Type header fits on one line; the check makes
        # a clash with the text impossible, not just unlikely.
        while True:
            boundary = "=_" + secrets.token_hex(10)
            if text is None or boundary.encode("ascii") not in text:
                return boundary


class Alternatives(SafeMIMEMultipart):  # type: ignore[misc]
    """Flask-Mailman's multipart/alternative container, written out by ``Generator``,
    and signed when written if it was given a signer (DKIM, see ``signing``)."""

    signer: Any = None

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        out = BytesIO()
        Generator(out, mangle_from_=False).flatten(self, unixfrom=unixfrom, linesep=linesep)
        written = out.getvalue()
        return written if self.signer is None else bytes(self.signer.sign(written))


def alternatives(
    headers: Sequence[tuple[str, str]], subject: str, text: str, html: str
) -> bytes | None:
    """A text and an HTML part, written out for SMTP (CRLF) without building a message tree.

    Exactly what Flask-Mailman's ``EmailMultiAlternatives`` gives, written out by
    ``Generator``: its headers in its order (``headers`` after the subject),
    each part UTF-8 in 8 bits (7 when it is ASCII). None when the message needs the
    email package's own encoding: a header that does not fit one plain line, or a body
    line longer than SMTP allows (Flask-Mailman then encodes it quoted-printable).
    """
    if not all(len(name) + 2 + len(value) <= _LINE and _PLAIN.fullmatch(value)
               for name, value in headers):  # fmt: skip
        return None
    plain, rich = _part("plain", text), _part("html", html)
    if plain is None or rich is None:
        return None
    parts = [plain, rich]
    boundary = Generator._make_boundary(b"\r\n".join(parts))
    charset = "us-ascii" if subject.isascii() else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep=_CRLF, maxlinelen=_LINE)
    head = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
        f"Subject: {folded}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    separator = f"{_CRLF}--{boundary}{_CRLF}".encode("ascii")
    return b"".join(
        [
            _CRLF.join([*head, "", f"--{boundary}", ""]).encode("utf-8"),
            separator.join(parts),
            f"{_CRLF}--{boundary}--{_CRLF}".encode("ascii"),
        ]
    )


def _part(subtype: str, text: str) -> bytes | None:
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the email package's to handle
        return None
    if any(len(line) > _BODY_LINE for line in body.splitlines()):
        return None
    encoding = "7bit" if text.isascii() else "8bit"
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}MIME-Version: 1.0{_CRLF}'
        f"Content-Transfer-Encoding: {encoding}{_CRLF}{_CRLF}"
    )
    return head.encode("ascii") + _CRLF.join(_NEWLINE.split(text)).encode("utf-8")
