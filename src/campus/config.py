"""Settings from the environment (and ``.env``), typed and checked once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_INTEGERS = (
    "MAIL_PORT",
    "MAIL_TIMEOUT",
    "EMAILCODE_TTL",
    "EMAILCODE_LENGTH",
    "EMAILCODE_MAX_ATTEMPTS",
    "EMAILCODE_RESEND_COOLDOWN",
    "EMAILCODE_FAILURE_CAP",
    "EMAILCODE_FAILURE_CEILING",
    "EMAILCODE_FAILURE_WINDOW",
    "PROXY_FIX_X_FOR",
    "REAUTH_MAX_AGE",
    "MAIL_WORKER_CONCURRENCY",
    "MAIL_QUEUE_VISIBILITY_TIMEOUT",
)
_FLOATS = ("MAIL_RETRY_BASE", "MAIL_RETRY_MAX_DELAY")
_BOOLEANS = ("MAIL_USE_TLS", "MAIL_USE_SSL", "RATELIMIT_ENABLED")
_STRINGS = (
    "SECRET_KEY",
    "REDIS_URL",
    "MAIL_SERVER",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "MAIL_CA_FILE",
    "EMAILCODE_LIMIT_PER_ADDRESS",
    "EMAILCODE_LIMIT_PER_IP",
    "EMAILCODE_LIMIT_GLOBAL",
    "EMAILCODE_LIMIT_PER_ACCOUNT",
    "EMAILCODE_VERIFY_LIMIT_PER_IP",
    "REAUTH_LIMIT_PER_ACCOUNT",
    "LOGIN_LIMIT_PER_ACCOUNT",
    "LOGIN_LIMIT_PER_IP",
    "LOGIN_LIMIT_PER_DEVICE",
    "MAIL_DELIVERY",
    "MAIL_SEND_RATE",
    "PUBLIC_URL",
)

DEFAULTS: dict[str, Any] = {
    "MAIL_PORT": 587,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_TIMEOUT": 10,
    "MAIL_DEFAULT_SENDER": "Campus Forum <no-reply@campus.example>",
    "EMAILCODE_TTL": 600,
    "EMAILCODE_LENGTH": 6,
    "EMAILCODE_MAX_ATTEMPTS": 5,
    "EMAILCODE_RESEND_COOLDOWN": 60,
    "EMAILCODE_LIMIT_PER_ADDRESS": "5/hour",
    "EMAILCODE_LIMIT_PER_IP": "30/hour",
    "EMAILCODE_LIMIT_PER_ACCOUNT": "10/hour",
    "EMAILCODE_VERIFY_LIMIT_PER_IP": "60/hour",
    "EMAILCODE_FAILURE_CAP": 20,
    "EMAILCODE_FAILURE_CEILING": 100,
    "EMAILCODE_FAILURE_WINDOW": 86400,
    "RATELIMIT_ENABLED": True,
    "PROXY_FIX_X_FOR": 0,
    "REAUTH_MAX_AGE": 1800,
    "REAUTH_LIMIT_PER_ACCOUNT": "10/hour",
    # ASVS 2.2.1 allows up to 100 failed log-ins an hour per account; far fewer here.
    "LOGIN_LIMIT_PER_ACCOUNT": "10/hour",
    "LOGIN_LIMIT_PER_IP": "50/hour",
    "LOGIN_LIMIT_PER_DEVICE": "20/hour",
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "MAIL_WORKER_CONCURRENCY": 8,
    "MAIL_RETRY_BASE": 2.0,
    "MAIL_RETRY_MAX_DELAY": 60.0,
    "MAIL_QUEUE_VISIBILITY_TIMEOUT": 300,
    # Tokens live as long as the session: a change-email page left open over
    # lunch must still submit.
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": True,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "BABEL_DEFAULT_LOCALE": "zh",
    # Every field here is a short string; a larger body is an attack or a mistake.
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_FORM_PARTS": 100,
    "LANGUAGES": ("zh", "en"),
}


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def parse_bool(name: str, value: str) -> bool:
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of true/false/1/0/yes/no, not {value!r}")


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings named in the contract that the environment sets, typed."""
    settings: dict[str, Any] = {}
    for name in _STRINGS:
        if environ.get(name):
            settings[name] = environ[name]
    numbers: list[tuple[tuple[str, ...], type[int] | type[float], str]] = [
        (_INTEGERS, int, "a whole number"),
        (_FLOATS, float, "a number"),
    ]
    for names, kind, described in numbers:
        for name in names:
            if environ.get(name, "").strip():
                try:
                    settings[name] = kind(environ[name])
                except ValueError as exc:
                    raise ConfigError(f"{name} must be {described}, not {environ[name]!r}") from exc
    for name in _BOOLEANS:
        if name in environ:
            settings[name] = parse_bool(name, environ[name])
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = database_uri(environ["DATABASE_URL"])
    return settings


def database_uri(url: str) -> str:
    """Point plain PostgreSQL URLs at psycopg 3, the driver this project ships."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def development_secret_key(instance_path: Path) -> str:
    """A random key kept in the instance folder so sessions survive a restart."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def check_sender(sender: str) -> None:
    """``Name <address>`` or a bare address, ASCII, on one line: it becomes a header."""
    from email.utils import parseaddr

    from email_validator import EmailNotValidError, validate_email

    name, address = parseaddr(sender)
    if not sender.isascii() or any(ch in sender for ch in "\r\n\x00") or not address:
        raise ConfigError("MAIL_DEFAULT_SENDER must be one ASCII line: Name <address>")
    try:
        # The operator's own domain may be a private one (.invalid, .test).
        validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=False
        )
    except EmailNotValidError as exc:
        raise ConfigError(f"MAIL_DEFAULT_SENDER has no valid address: {exc}") from exc
    if any(ch in name for ch in '<>@,;"'):
        raise ConfigError("MAIL_DEFAULT_SENDER's display name must be plain text")


def finish(config: dict[str, Any], *, instance_path: Path, is_development: bool) -> None:
    """Fill derived settings and refuse to start with a dangerous configuration."""
    if not config.get("SECRET_KEY"):
        if not is_development:
            raise ConfigError("SECRET_KEY is required outside development")
        config["SECRET_KEY"] = development_secret_key(instance_path)
    if len(str(config["SECRET_KEY"])) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters")
    config.setdefault("SQLALCHEMY_DATABASE_URI", f"sqlite:///{instance_path / 'campus.sqlite3'}")
    if config.get("MAIL_USE_TLS") and config.get("MAIL_USE_SSL"):
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL are exclusive: 587+TLS or 465+SSL")
    delivery = config.get("MAIL_DELIVERY") or ("queue" if config.get("REDIS_URL") else "direct")
    if delivery not in ("queue", "direct"):
        raise ConfigError("MAIL_DELIVERY must be queue or direct")
    if delivery == "queue" and not config.get("REDIS_URL"):
        raise ConfigError("MAIL_DELIVERY=queue needs REDIS_URL")
    config["MAIL_DELIVERY"] = delivery
    # A retry waits inside the worker unacknowledged; past the visibility
    # timeout Redis would hand it to a second worker as well.
    if float(config["MAIL_RETRY_MAX_DELAY"]) * 2 > int(config["MAIL_QUEUE_VISIBILITY_TIMEOUT"]):
        raise ConfigError("MAIL_RETRY_MAX_DELAY must be under half MAIL_QUEUE_VISIBILITY_TIMEOUT")
    if not config.get("MAIL_SERVER") and not is_development:
        raise ConfigError("MAIL_SERVER is required outside development")
    config["SESSION_COOKIE_SECURE"] = not is_development
    check_sender(str(config.get("MAIL_DEFAULT_SENDER") or ""))
    config.setdefault("MAILBOX_DIR", str(instance_path / "mailbox"))
