"""Each setting is declared once, and the README's table is that declaration."""

from __future__ import annotations

import re
from pathlib import Path

from campus import settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_settings_table_is_the_declared_table() -> None:
    text = README.read_text()
    start = text.index("| name | default | meaning |")
    table = text[start : text.index("\n\n", start) + 1]
    assert table == settings.readme_table(), "paste campus.settings.readme_table() into README"


def test_every_setting_the_app_reads_by_name_is_declared() -> None:
    source = Path(settings.__file__).parent
    read = set()
    for path in source.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        read |= set(re.findall(r"""config(?:\.get\(|\[)"([A-Z][A-Z0-9_]+)"\]?""", path.read_text()))
    # Derived at start-up, or handed in by tests: no operator sets these.
    not_settings = {
        "TESTING",
        "MAILBOX_DIR",
        "CAMPUS_CLOCK",
        "MAIL_BACKEND",
        "SESSION_COOKIE_SECURE",
        "BABEL_DEFAULT_TIMEZONE",  # SITE_TIMEZONE, as Flask-Babel reads it
    }
    undeclared = {
        name
        for name in read - set(settings.BY_NAME) - set(settings.FIXED) - not_settings
        if not name.startswith(("RATELIMIT_STORAGE", "RATELIMIT_KEY", "SQLALCHEMY_"))
    }
    assert undeclared == set()


def test_defaults_come_from_the_table() -> None:
    for setting in settings.SETTINGS:
        if setting.default is None:
            assert setting.name not in settings.DEFAULTS
        else:
            assert settings.DEFAULTS[setting.name] == setting.default


def test_typed_from_the_environment_by_the_declared_kind() -> None:
    environ = {"EMAILCODE_TTL": "300", "MAIL_USE_TLS": "yes", "MAIL_RETRY_BASE": "0.5"}
    found = settings.from_environment(environ | {"EMAILCODE_LIMIT_GLOBAL": "9/day"})
    assert found["EMAILCODE_TTL"] == 300 and found["MAIL_USE_TLS"] is True
    assert found["MAIL_RETRY_BASE"] == 0.5 and found["EMAILCODE_LIMIT_GLOBAL"] == "9/day"
