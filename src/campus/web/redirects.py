"""Where to go after logging in: only somewhere on this site.

A ``next`` value is judged the way a browser will read it, not the way it looks.
The WHATWG URL parser, which every browser follows, strips leading and trailing
C0 controls and spaces, deletes every tab and newline anywhere, and reads ``\\``
as ``/`` in http(s) URLs; ``/\\t/evil.com`` therefore goes to ``//evil.com``, another
origin. So the value is first cleaned exactly as a browser would clean it, and
the cleaned text, not the original, is what is checked and handed back.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# What the URL parser strips from both ends (C0 controls and space) ...
_EDGES = "".join(chr(c) for c in range(0x21))
# ... and deletes anywhere inside.
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
MAX_LENGTH = 2000


def local_path(target: object) -> str | None:
    """``target`` as a path on this site, or None when a browser could leave the site."""
    if not isinstance(target, str) or len(target) > MAX_LENGTH:
        return None
    cleaned = _TAB_OR_NEWLINE.sub("", target.strip(_EDGES)).replace("\\", "/")
    # Whatever survived the cleaning must be printable ASCII: a control character
    # or a non-ASCII one has no business in a path we built, and browsers differ
    # on them.
    if not cleaned.isascii() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        return None
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return None
    # A path whose percent-decoded form starts like another host is refused too:
    # some servers and proxies decode before they redirect.
    decoded = unquote(cleaned).replace("\\", "/")
    if decoded.startswith("//") or _TAB_OR_NEWLINE.search(decoded):
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return None
    return cleaned
