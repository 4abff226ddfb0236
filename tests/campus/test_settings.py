"""Each setting is declared once, and the README's table is that declaration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from campus import settings
from campus.mail import config as mail_config

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


def finished(**config: object) -> dict[str, object]:
    found = {**settings.DEFAULTS, "SECRET_KEY": "k" * 32, **config}
    settings.finish(found, instance_path=Path("/nonexistent"), is_development=True)
    mail_config.finish(found, is_development=True)
    return found


def test_the_mail_layer_checks_its_own_settings() -> None:
    both = {**settings.DEFAULTS, "SECRET_KEY": "k" * 32, "MAIL_USE_TLS": True, "MAIL_USE_SSL": True}
    settings.finish(both, instance_path=Path("/nonexistent"), is_development=True)
    with pytest.raises(settings.ConfigError, match="exclusive"):
        mail_config.finish(both, is_development=True)
    found = finished()
    assert found["MAIL_DELIVERY"] == "direct"
    assert found["MAIL_BACKEND"] == "campus.mail.mailbox.MailboxEmailBackend"


def test_sentinels_are_host_port_pairs_and_choose_redis_and_the_queue() -> None:
    found = finished(
        REDIS_SENTINELS=" 10.0.0.1:26379, sentinel-b.campus.internal:26380 ,",
        REDIS_SENTINEL_MASTER="campus-main",
    )
    assert found["REDIS_SENTINELS"] == (
        ("10.0.0.1", 26379),
        ("sentinel-b.campus.internal", 26380),
    )
    assert settings.uses_redis(found) and found["MAIL_DELIVERY"] == "queue"
    assert not settings.uses_redis(finished())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"REDIS_SENTINELS": "10.0.0.1"}, "host:port"),
        ({"REDIS_SENTINELS": "10.0.0.1:0"}, "host:port"),
        ({"REDIS_SENTINELS": "10.0.0.1:70000"}, "host:port"),
        ({"REDIS_SENTINELS": "a@b:26379"}, "host:port"),
        ({"REDIS_SENTINELS": "a/b:26379"}, "host:port"),
        ({"REDIS_SENTINELS": "a;sentinel://b:26379"}, "host:port"),
        ({"REDIS_SENTINELS": "a:26379"}, "go together"),
        ({"REDIS_SENTINEL_MASTER": "campus"}, "go together"),
        ({"REDIS_SENTINELS": "a:26379", "REDIS_SENTINEL_MASTER": "x/y"}, "REDIS_SENTINEL_MASTER"),
        (
            {
                "REDIS_SENTINELS": "a:26379",
                "REDIS_SENTINEL_MASTER": "campus",
                "REDIS_URL": "redis://a:6379/0",
            },
            "not both",
        ),
    ],
)
def test_a_bad_sentinel_setting_stops_the_start(config: dict[str, str], message: str) -> None:
    with pytest.raises(settings.ConfigError, match=message):
        finished(**config)
