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
from email.generator import BytesGenerator
from io import BytesIO
from typing import Any

from flask_mailman.message import SafeMIMEMultipart

# What compat32 would write unchanged: printable ASCII, words split by single
# spaces, nothing a folder would rewrite.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
# Folding starts beyond this many characters, counting the name and ": ".
_LINE = 78


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
