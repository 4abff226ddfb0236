"""Every message the app can show or mail has a Chinese translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from flask import Flask
from wtforms.i18n import messages_path

from tests.helpers import Api

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


def test_the_shipped_catalogs_match_their_sources() -> None:
    """The compiled catalogs travel in the package; they must say what the .po files say."""
    sources = sorted((ROOT / "src/campus/translations").glob("*/LC_MESSAGES/messages.po"))
    assert sources
    for source in sources:
        compiled = source.with_suffix(".mo")
        assert compiled.exists(), f"{compiled} is missing: run make messages"
        with source.open("rb") as handle:
            wanted = {m.id: m.string for m in read_po(handle) if m.id and m.string and not m.fuzzy}
        with compiled.open("rb") as handle:
            shipped = {m.id: m.string for m in read_mo(handle) if m.id}
        assert shipped == wanted, f"{compiled} is stale: run make messages"


def test_wtforms_own_messages_follow_each_requests_language(app: Flask) -> None:
    """Built-in validator messages come from WTForms' catalog, in the asker's language."""
    required = "This field is required."
    chinese = Translations.load(messages_path(), ["zh"], domain="wtforms").gettext(required)
    assert chinese != required
    answers = {}
    for language in ["zh", "en", "zh"]:  # a catalog read once must not stick to one language
        api = Api(app.test_client(), language=language)
        response = api.post("/cms/login", {"email": "someone@example.com"})
        assert response.status_code == 400
        answers.setdefault(language, set()).add(response.get_json()["message"])
    assert answers == {"zh": {chinese}, "en": {required}}
