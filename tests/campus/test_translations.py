"""Every message the app can show or mail has a Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "src/campus/translations/zh/LC_MESSAGES/messages.po"
METHODS = [
    ("src/**.py", "python"),
    ("src/campus/templates/**.html", "jinja2"),
    ("src/campus/templates/**.txt", "jinja2"),
]
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None, "ngettext": (1, 2)}


def test_every_message_has_a_chinese_translation() -> None:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    translated = {message.id for message in catalog if message.id and message.string}
    used = {
        found[2] if isinstance(found[2], str) else found[2][0]
        for found in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS)
    }
    assert used, "extraction found no messages at all"
    assert sorted(used - translated) == []
