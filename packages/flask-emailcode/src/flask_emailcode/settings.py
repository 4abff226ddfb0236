"""``EMAILCODE_*``: each setting declared once here, its default set by ``init_app``.

The README's settings table is ``settings_table()``'s output, and a test holds
the two equal. ``check`` refuses a bad value at start, naming the setting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from limits import parse

from flask_emailcode.core import Policy

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    meaning: str
    shown: str | None = None

    @property
    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return str(self.default)
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"`{self.default!r}`" if isinstance(self.default, dict) else str(self.default)


_POLICY = Policy()

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "EMAILCODE_SECRET_KEY",
        None,
        "the key of every code digest and keyed name (at least 16 bytes); changing it voids "
        "the codes outstanding",
        shown="`SECRET_KEY`",
    ),
    Setting(
        "EMAILCODE_STORAGE_URI",
        None,
        "where codes and budgets live: `memory://` (debug and testing only), an SQLAlchemy URL, "
        "`sqlalchemy://` (the app's Flask-SQLAlchemy `db`), `redis://`, `rediss://` or "
        "`redis+sentinel://host:port,host:port/master`",
        shown="`sqlalchemy://` with Flask-SQLAlchemy, else `memory://`",
    ),
    Setting(
        "EMAILCODE_STORAGE_OPTIONS",
        {},
        "keyword arguments for the storage's client (`redis.Redis`, `create_engine`)",
    ),
    Setting(
        "EMAILCODE_KEY_PREFIX",
        "emailcode",
        "the prefix of every Redis key and budget name, so apps can share one Redis",
    ),
    Setting("EMAILCODE_TTL", _POLICY.ttl, "seconds a code stays valid"),
    Setting("EMAILCODE_LENGTH", _POLICY.length, "characters in a code"),
    Setting("EMAILCODE_MAX_ATTEMPTS", _POLICY.max_attempts, "wrong entries that burn a code"),
    Setting(
        "EMAILCODE_RESEND_COOLDOWN",
        _POLICY.resend_cooldown,
        "seconds before another code may go to the same address for the same purpose",
    ),
    Setting(
        "EMAILCODE_LIVE_CODES",
        _POLICY.live_codes,
        "codes of one request alive at once after resends (one attempt count between them)",
    ),
    Setting(
        "EMAILCODE_FAILURE_CAP",
        _POLICY.failure_cap,
        "wrong codes per account and purpose from one client in the failure window",
    ),
    Setting(
        "EMAILCODE_FAILURE_CEILING",
        _POLICY.failure_ceiling,
        "wrong codes per account and purpose from all clients together in the window",
    ),
    Setting(
        "EMAILCODE_FAILURE_WINDOW",
        _POLICY.failure_window,
        "seconds of the sliding window the cap and the ceiling count in",
    ),
    Setting(
        "EMAILCODE_PURPOSES",
        {},
        'per-purpose overrides: `{"sign_up": {"ttl": 3600}, "reset_password": '
        '{"ttl": 600, "code_in_subject": False}}` (keys: `ttl`, `length`, `max_attempts`, '
        "`resend_cooldown`, `live_codes`, `code_in_subject`, `subject`, `template`)",
    ),
    Setting(
        "EMAILCODE_CODE_IN_SUBJECT",
        True,
        "whether a code mail's subject carries the code: a bool, or the purposes whose do",
    ),
    Setting(
        "EMAILCODE_LIMIT_PER_ADDRESS",
        "5/hour",
        "codes sent to one mailbox (`+tags` and Gmail dots folded), in `limits` notation",
    ),
    Setting("EMAILCODE_LIMIT_PER_IP", "30/hour", "codes asked for from one client"),
    Setting("EMAILCODE_LIMIT_PER_ACCOUNT", "10/hour", "codes asked for by one account"),
    Setting("EMAILCODE_LIMIT_GLOBAL", None, "codes sent by the whole app (e.g. `2000/day`)"),
    Setting("EMAILCODE_VERIFY_LIMIT_PER_IP", "60/hour", "codes checked from one client"),
    Setting(
        "EMAILCODE_RATELIMIT_ENABLED",
        True,
        "False turns the budgets off (load tests); cooldowns, attempts and the cap stay",
    ),
    Setting(
        "EMAILCODE_SENDER",
        None,
        "`flask_mailman`, `flask_mail`, or `package.module:callable` taking a `CodeMail`; "
        "`@emailcode.sender` overrides it",
        shown="the app's Flask-Mailman, else its Flask-Mail",
    ),
    Setting(
        "EMAILCODE_DEFAULT_SENDER",
        None,
        "the From address of code mail",
        shown="`MAIL_DEFAULT_SENDER`",
    ),
    Setting("EMAILCODE_SITE_NAME", None, "named in the mail's subject and greeting"),
    Setting(
        "EMAILCODE_DEFAULT_LOCALE",
        "en",
        "the mail's language when the request asks for none the extension has",
    ),
    Setting(
        "EMAILCODE_CLOCK",
        None,
        "a callable giving the time in seconds, for every code, budget window, delivery "
        "status and mail date (tests move it instead of sleeping)",
        shown="`time.time`",
    ),
    Setting(
        "EMAILCODE_REGISTER_ERRORHANDLERS",
        True,
        "answer the extension's refusals as JSON (429 with `Retry-After`, 400, 503)",
    ),
)

DEFAULTS: Mapping[str, Any] = {setting.name: setting.default for setting in SETTINGS}

_LIMITS = (
    "EMAILCODE_LIMIT_PER_ADDRESS",
    "EMAILCODE_LIMIT_PER_IP",
    "EMAILCODE_LIMIT_PER_ACCOUNT",
    "EMAILCODE_LIMIT_GLOBAL",
    "EMAILCODE_VERIFY_LIMIT_PER_IP",
)
_PURPOSE_KEYS = {
    "ttl",
    "length",
    "max_attempts",
    "resend_cooldown",
    "live_codes",
    "code_in_subject",
    "subject",
    "template",
}


class ConfigError(ValueError):
    """A setting's value cannot work; the message names the setting."""


def flag(config: Mapping[str, Any], name: str) -> bool:
    value = config[name]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def check(config: Mapping[str, Any]) -> None:
    """Refuse a setting that cannot work, naming it."""
    for name in _LIMITS:
        value = config.get(name)
        if value in (None, ""):
            continue
        try:
            parse(str(value))
        except ValueError as exc:
            raise ConfigError(f"{name}: {value!r} is not a rate limit like `5/hour`") from exc
    purposes = config["EMAILCODE_PURPOSES"]
    if not isinstance(purposes, Mapping):
        raise ConfigError("EMAILCODE_PURPOSES must be a mapping of purpose to overrides")
    for purpose, overrides in purposes.items():
        unknown = set(overrides) - _PURPOSE_KEYS
        if unknown:
            raise ConfigError(f"EMAILCODE_PURPOSES[{purpose!r}] has unknown keys {sorted(unknown)}")
    for name in ("EMAILCODE_RATELIMIT_ENABLED", "EMAILCODE_REGISTER_ERRORHANDLERS"):
        flag(config, name)
    code_in_subject(config, "any")


def code_in_subject(config: Mapping[str, Any], purpose: str) -> bool:
    """``EMAILCODE_CODE_IN_SUBJECT``: a bool for every purpose, or the purposes it is on for."""
    value = config["EMAILCODE_CODE_IN_SUBJECT"]
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE | _FALSE - {""}:
            return text in _TRUE
        return purpose in {part.strip() for part in value.split(",") if part.strip()}
    if isinstance(value, Iterable):
        return purpose in set(value)
    raise ConfigError(f"EMAILCODE_CODE_IN_SUBJECT must be a bool or purposes, not {value!r}")


def settings_table() -> str:
    """The README's settings table."""
    rows = ["| name | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.shown_default} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows)
