"""Flask's extension conventions: init_app, state in app.extensions, settings' defaults."""

from __future__ import annotations

import pytest
from flask import Flask

from _helpers import make_app
from flask_emailcode import EmailCode
from flask_emailcode.extension import State
from flask_emailcode.settings import DEFAULTS, ConfigError


def test_state_lives_in_app_extensions_not_on_the_object() -> None:
    emailcode = EmailCode()
    first, second = make_app(), make_app(EMAILCODE_TTL=60)
    emailcode.init_app(first)
    emailcode.init_app(second)
    assert isinstance(first.extensions["emailcode"], State)
    assert first.extensions["emailcode"] is not second.extensions["emailcode"]
    assert not any(isinstance(value, Flask) for value in vars(emailcode).values())
    with second.app_context(), emailcode.capture():
        assert emailcode.send("sign_up", to="a@example.com").expires_in == 60
    with first.app_context(), emailcode.capture():
        assert emailcode.send("sign_up", to="a@example.com").expires_in == 600


def test_every_setting_gets_its_default_and_an_app_value_is_kept() -> None:
    app = make_app(EMAILCODE_LENGTH=8)
    EmailCode(app)
    assert app.config["EMAILCODE_LENGTH"] == 8
    for name, default in DEFAULTS.items():
        if name != "EMAILCODE_LENGTH":
            assert app.config[name] == default


def test_a_second_init_app_on_one_app_raises() -> None:
    app = make_app()
    emailcode = EmailCode(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        emailcode.init_app(app)
    with pytest.raises(RuntimeError, match="already initialised"):
        EmailCode(app)


def test_memory_storage_is_refused_outside_debug_and_testing_naming_the_setting() -> None:
    app = make_app(TESTING=False)
    with pytest.raises(ConfigError, match="EMAILCODE_STORAGE_URI"):
        EmailCode(app)
    debug = make_app(TESTING=False)
    debug.debug = True
    EmailCode(debug)
    assert debug.extensions["emailcode"].backend.shared is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAILCODE_LIMIT_PER_ADDRESS", "five an hour"),
        ("EMAILCODE_PURPOSES", {"sign_up": {"tll": 5}}),
        ("EMAILCODE_RATELIMIT_ENABLED", "maybe"),
    ],
)
def test_a_bad_setting_is_refused_at_start_by_name(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=name):
        EmailCode(make_app(**{name: value}))


def test_a_bad_purpose_policy_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="sign_up"):
        EmailCode(make_app(EMAILCODE_PURPOSES={"sign_up": {"length": 2}}))


def test_without_a_secret_key_it_will_not_start() -> None:
    app = make_app(SECRET_KEY=None)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        EmailCode(app)


def test_importing_the_package_loads_no_flask_until_a_name_is_used() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, flask_emailcode; before = 'flask' in sys.modules;"
        " flask_emailcode.EmailCode; print(before, 'flask' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_without_a_mail_extension_or_sender_the_app_is_told_what_to_do() -> None:
    app = make_app()
    emailcode = EmailCode(app)
    with app.test_request_context(), pytest.raises(RuntimeError, match="Flask-Mailman"):
        emailcode.send("sign_up", to="a@example.com")
    with app.test_request_context(), emailcode.capture() as outbox:
        # Nothing was issued by the refused call: no cooldown stands in the way.
        emailcode.send("sign_up", to="a@example.com")
    assert len(outbox) == 1


def test_the_readme_settings_table_is_the_declared_one() -> None:
    from pathlib import Path

    from flask_emailcode.settings import settings_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert settings_table() in readme
