"""Settings: each declared once here, read from the environment (and ``.env``), checked at start.

``SETTINGS`` is the one table: name, type, default and meaning. The README's
settings table is ``readme_table()``'s output, and a test holds the two equal.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import idna

from campus_worker.options import DEFAULT_POOL
from flask_emailcode.settings import DEFAULTS as EMAILCODE

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Setting:
    """One setting an operator may set: its type, its default (None: unset) and its meaning.

    ``shown`` is how the README states a default that is not a plain value.
    """

    name: str
    kind: type[str] | type[int] | type[float] | type[bool]
    default: str | int | float | bool | None
    meaning: str
    shown: str | None = None

    @property
    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, str):
            return f"`{self.default}`"
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SECRET_KEY",
        str,
        None,
        "sessions, CSRF, code digests",
        shown="generated into `instance/secret_key` in development; required otherwise",
    ),
    Setting(
        "DATABASE_URL",
        str,
        None,
        "any SQLAlchemy URL; `postgresql://` uses psycopg 3",
        shown="`sqlite:///instance/campus.sqlite3`",
    ),
    Setting(
        "REDIS_URL",
        str,
        None,
        "when set, codes, rate limits, delivery statuses and the mail queue live in Redis; "
        "without it (and without `REDIS_SENTINELS`) they live in the database, shared by every "
        "process",
    ),
    Setting(
        "REDIS_SENTINELS",
        str,
        None,
        "`host:port,host:port,...` of Redis Sentinels: instead of `REDIS_URL`, Redis is the "
        "master they name now, found again after a failover (database 0)",
    ),
    Setting(
        "REDIS_SENTINEL_MASTER",
        str,
        None,
        "the name the sentinels monitor the master by (`sentinel monitor NAME ...`)",
    ),
    Setting(
        "REDIS_CA_FILE",
        str,
        None,
        "a PEM file of CAs to trust for `rediss://` (and for `REDIS_SENTINEL_TLS`) instead of "
        "the system store; the certificate and the host name are always checked. A password "
        "goes in the URL: `redis://:PASSWORD@host:6379/0`, or with an ACL user "
        "`rediss://USER:PASSWORD@host:6380/0`",
        shown="unset: the system trust store",
    ),
    Setting(
        "REDIS_SENTINEL_USERNAME",
        str,
        None,
        "the ACL user the sentinels ask for (`requirepass` alone needs none)",
    ),
    Setting(
        "REDIS_SENTINEL_PASSWORD",
        str,
        None,
        "the password of the sentinels themselves (their `requirepass`)",
    ),
    Setting(
        "REDIS_MASTER_USERNAME",
        str,
        None,
        "under Sentinel, the ACL user of the master (and replicas) the sentinels name",
    ),
    Setting(
        "REDIS_MASTER_PASSWORD",
        str,
        None,
        "under Sentinel, the password of the master (its `requirepass`, or the ACL user's)",
    ),
    Setting(
        "REDIS_WAIT_REPLICAS",
        int,
        None,
        "replicas that must hold a new code (and its queued message), and a right code's "
        "spend, before the answer (Redis `WAIT`), so that none is lost with the master; 0 "
        "answers at once",
        shown="1 with `REDIS_SENTINELS`, else 0",
    ),
    Setting(
        "REDIS_WAIT_MS",
        int,
        250,
        "milliseconds to wait for those replicas; past it the answer is 503: a new code is "
        "taken back, a spent one stays spent",
    ),
    Setting(
        "REDIS_SENTINEL_TLS",
        bool,
        False,
        "TLS to the sentinels and to the master they name, certificates checked against "
        "`REDIS_CA_FILE`",
    ),
    Setting(
        "PUBLIC_URL",
        str,
        "http://127.0.0.1:5000",
        "the site's address for links in mail (never taken from the request's Host header); "
        "set it in production",
    ),
    Setting(
        "MAIL_DELIVERY",
        str,
        None,
        "`direct` sends within the request; `queue` hands mail to the worker",
        shown="`queue` with Redis, else `direct`",
    ),
    Setting(
        "MAIL_SERVER",
        str,
        None,
        "the SMTP provider's host; unset, mail goes to the development mailbox (development only)",
    ),
    Setting("MAIL_PORT", int, 587, "587 with `MAIL_USE_TLS` (STARTTLS) or 465 with `MAIL_USE_SSL`"),
    Setting(
        "MAIL_USE_TLS",
        bool,
        False,
        "STARTTLS after connecting; the server's certificate is always verified",
    ),
    Setting(
        "MAIL_USE_SSL",
        bool,
        False,
        "TLS from the first byte (implicit TLS); the certificate is verified",
    ),
    Setting("MAIL_USERNAME", str, None, "the SMTP login"),
    Setting(
        "MAIL_PASSWORD",
        str,
        None,
        "the SMTP password (for QQ, 163 and similar: the authorisation code)",
    ),
    Setting(
        "MAIL_DEFAULT_SENDER",
        str,
        "Campus Forum <no-reply@campus.example>",
        "`Name <address>`, one ASCII line: the From header of every message",
    ),
    Setting("MAIL_TIMEOUT", int, 10, "seconds to wait for the SMTP server"),
    Setting(
        "MAIL_CA_FILE",
        str,
        None,
        "a PEM file of CAs to trust instead of the system store, for private relays and tests",
        shown="unset: the system trust store",
    ),
    Setting(
        "MAIL_DELIVERY_LOG_DAYS",
        int,
        7,
        "days each delivery stays in the administrators' log (`/cms/deliveries`); a status "
        "also lives as long as its code",
    ),
    Setting(
        "METRICS_TOKEN",
        str,
        None,
        "bearer token for Prometheus scrapes of `/metrics`",
        shown="unset: `/metrics` is 404",
    ),
    Setting(
        "MAIL_FALLBACK_SERVER",
        str,
        None,
        "a second SMTP relay, for what the first refuses, times out on or answers 4xx to: "
        "tried at once by direct delivery, on the next attempt by the worker",
    ),
    Setting("MAIL_FALLBACK_PORT", int, 587, "the fallback relay's port"),
    Setting("MAIL_FALLBACK_USE_TLS", bool, False, "STARTTLS to the fallback; certificate checked"),
    Setting("MAIL_FALLBACK_USE_SSL", bool, False, "implicit TLS to the fallback; certificate too"),
    Setting("MAIL_FALLBACK_USERNAME", str, None, "the fallback relay's login"),
    Setting("MAIL_FALLBACK_PASSWORD", str, None, "the fallback relay's password"),
    Setting(
        "MAIL_DKIM_DOMAIN",
        str,
        None,
        "sign every message with DKIM for this domain (with the selector and key below); "
        "it should be the sender's domain or a parent of it, for DMARC",
    ),
    Setting(
        "MAIL_DKIM_SELECTOR",
        str,
        None,
        "the DKIM selector: the key is published at `<selector>._domainkey.<domain>`",
    ),
    Setting(
        "MAIL_DKIM_KEY_FILE",
        str,
        None,
        "a PEM file holding the unencrypted RSA private key (2048 bits is usual); "
        "`flask --app campus mail dkim-record` prints its DNS record",
    ),
    Setting(
        "MAIL_WORKER_POOL",
        str,
        DEFAULT_POOL,
        "`gevent`: the worker keeps many messages in flight in one process; `threads`: "
        "one OS thread per message in flight",
    ),
    Setting(
        "MAIL_WORKER_CONCURRENCY",
        int,
        128,
        "messages one worker sends at once, each over its own kept-open SMTP session",
    ),
    Setting(
        "MAIL_WORKER_SILENCE",
        float,
        30.0,
        "seconds without a heartbeat from any worker after which `/healthz` answers 503 "
        "(with the queue)",
    ),
    Setting(
        "MAIL_QUEUE_MAX_AGE",
        float,
        60.0,
        "seconds the oldest queued message may wait before `/healthz` answers 503",
    ),
    Setting(
        "MAIL_SEND_RATE",
        str,
        None,
        "the provider's send rate shared by all workers, e.g. `20/second`",
    ),
    Setting(
        "MAIL_RETRY_BASE",
        float,
        2.0,
        "seconds before the first retry of a temporary failure; it doubles, with jitter, "
        "never past the code's expiry",
    ),
    Setting("MAIL_RETRY_MAX_DELAY", float, 60.0, "the longest wait between retries, in seconds"),
    Setting(
        "MAIL_QUEUE_VISIBILITY_TIMEOUT",
        int,
        30,
        "seconds after which a message its worker stopped working on (killed, or cut off "
        "from Redis) is taken over by another; a live worker marks its own each second",
    ),
    Setting("EMAILCODE_TTL", int, EMAILCODE["EMAILCODE_TTL"], "seconds a code stays valid"),
    Setting("EMAILCODE_LENGTH", int, EMAILCODE["EMAILCODE_LENGTH"], "characters in a code"),
    Setting(
        "EMAILCODE_MAX_ATTEMPTS",
        int,
        EMAILCODE["EMAILCODE_MAX_ATTEMPTS"],
        "wrong entries that burn a code",
    ),
    Setting(
        "EMAILCODE_RESEND_COOLDOWN",
        int,
        EMAILCODE["EMAILCODE_RESEND_COOLDOWN"],
        "seconds before another code may go to the same address for the same purpose",
    ),
    Setting(
        "EMAILCODE_FAILURE_CAP",
        int,
        EMAILCODE["EMAILCODE_FAILURE_CAP"],
        "wrong codes allowed per account and purpose from one client address in the "
        "failure window, whatever the number of codes",
    ),
    Setting(
        "EMAILCODE_FAILURE_CEILING",
        int,
        EMAILCODE["EMAILCODE_FAILURE_CEILING"],
        "wrong codes allowed per account and purpose from all clients together in the "
        "failure window (NIST SP 800-63B's ceiling)",
    ),
    Setting(
        "EMAILCODE_FAILURE_WINDOW",
        int,
        EMAILCODE["EMAILCODE_FAILURE_WINDOW"],
        "seconds of the sliding window the failure cap and ceiling count in",
    ),
    Setting(
        "EMAILCODE_LIMIT_PER_ADDRESS",
        str,
        EMAILCODE["EMAILCODE_LIMIT_PER_ADDRESS"],
        "codes (and notices in their place) sent to one mailbox: case, IDN spellings, "
        "`+tags` and, at Gmail, dots share one budget",
    ),
    Setting(
        "EMAILCODE_LIMIT_PER_IP",
        str,
        EMAILCODE["EMAILCODE_LIMIT_PER_IP"],
        "codes requested from one client address",
    ),
    Setting(
        "EMAILCODE_LIMIT_PER_ACCOUNT",
        str,
        EMAILCODE["EMAILCODE_LIMIT_PER_ACCOUNT"],
        "codes requested by one account",
    ),
    Setting(
        "EMAILCODE_LIMIT_GLOBAL",
        str,
        None,
        "a ceiling on all codes sent (e.g. `2000/day`), to stay under the provider's daily cap",
    ),
    Setting(
        "EMAILCODE_VERIFY_LIMIT_PER_IP",
        str,
        EMAILCODE["EMAILCODE_VERIFY_LIMIT_PER_IP"],
        "codes checked from one client address, whatever the account",
    ),
    Setting(
        "RATELIMIT_ENABLED",
        bool,
        True,
        "false turns off the five request-rate limits above (for load tests); the cooldown, "
        "attempt limit, failure cap and the log-in limits below stay",
    ),
    # ASVS 2.2.1 allows up to 100 failed log-ins an hour per account; far fewer here.
    Setting(
        "LOGIN_LIMIT_PER_ACCOUNT",
        str,
        "10/hour",
        "password tries for one address (whether or not it has an account) from browsers "
        "that have not logged in to it before",
    ),
    Setting(
        "LOGIN_LIMIT_PER_IP",
        str,
        "50/hour",
        "failed password tries from one client address, from such browsers",
    ),
    Setting(
        "LOGIN_LIMIT_PER_DEVICE",
        str,
        "20/hour",
        "password tries from a browser that has logged in to the account before (it "
        "carries a signed `campus_device` cookie)",
    ),
    Setting(
        "REAUTH_LIMIT_PER_ACCOUNT",
        str,
        "10/hour",
        "password confirmations at `/reauth` per account",
    ),
    Setting(
        "REAUTH_MAX_AGE",
        int,
        1800,
        "seconds since login (or the last password check) after which changing the email "
        "asks for the password",
    ),
    Setting(
        "SIGNUP_ALLOWED_DOMAINS",
        str,
        None,
        "comma list of the domains sign-up (and a member's primary address) may use: "
        "`campus.edu.cn` exactly, `*.campus.edu.cn` that domain and its subdomains; matched "
        "after folding case, IDN spellings and a trailing dot",
        shown="unset: any",
    ),
    Setting(
        "SIGNUP_BLOCK_DISPOSABLE",
        bool,
        True,
        "refuse throwaway-mailbox domains (and their subdomains), from the maintained "
        "`disposable-email-domains` list, for sign-up and every address an account adds",
    ),
    Setting(
        "STAFF_LOGIN_CONFIRM_BY_CODE",
        bool,
        False,
        "a staff password log-in is completed with a code mailed to the staff member's "
        "address before the CMS opens",
    ),
    Setting(
        "SITE_TIMEZONE",
        str,
        "Asia/Shanghai",
        "the time zone of times shown in mail and pages (an IANA name)",
    ),
    Setting(
        "EMAILCODE_CODE_IN_SUBJECT",
        str,
        None,
        "`true` or `false` for every code mail, or a comma list of purposes "
        "(`sign_up,change_email,add_email,reset_password,log_in`) whose mail has the code in its "
        "subject; any other code mail's subject carries the time it was sent",
        shown="on for sign-up, change of email and adding an address; off for reset and log-in",
    ),
    Setting(
        "PROXY_FIX_X_FOR",
        int,
        0,
        "trusted proxy hops; 0 ignores `X-Forwarded-For` and the client address is the socket's",
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}

# Fixed choices, not settings: Flask's and its extensions' keys, set once here.
FIXED: dict[str, Any] = {
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
    # Flask-EmailCode, as the app uses it: budgets under the app's own names, its
    # refusals answered by the app's handlers, its mail language the app's default.
    "EMAILCODE_KEY_PREFIX": "campus",
    "EMAILCODE_REGISTER_ERRORHANDLERS": False,
    "EMAILCODE_DEFAULT_LOCALE": "zh_Hans",
}

DEFAULTS: dict[str, Any] = {
    **{s.name: s.default for s in SETTINGS if s.default is not None},
    **FIXED,
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


_DESCRIBED = {int: "a whole number", float: "a number"}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The declared settings the environment sets, typed."""
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        if raw is None:
            continue
        if setting.kind is bool:
            settings[setting.name] = parse_bool(setting.name, raw)
        elif setting.kind is str:
            if raw:
                settings[setting.name] = raw
        elif raw.strip():
            try:
                settings[setting.name] = setting.kind(raw)
            except ValueError as exc:
                described = _DESCRIBED[setting.kind]
                raise ConfigError(f"{setting.name} must be {described}, not {raw!r}") from exc
    if settings.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = database_uri(settings.pop("DATABASE_URL"))
    return settings


def readme_table() -> str:
    """The README's settings table, as Markdown."""
    rows = ["| name | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.shown_default} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"


# A code on a lock screen is worth more for a reset or a log-in than for proving
# a new address; docs/security.md says why these two stay out of the subject.
CODE_IN_SUBJECT_BY_DEFAULT = frozenset({"sign_up", "change_email", "add_email"})
CODE_PURPOSES = frozenset({"sign_up", "change_email", "add_email", "reset_password", "log_in"})


def code_in_subject(value: object) -> frozenset[str]:
    """The purposes whose code mail shows the code in its subject."""
    if value is None or isinstance(value, frozenset | set):
        return CODE_IN_SUBJECT_BY_DEFAULT if value is None else frozenset(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return CODE_PURPOSES
    if text in _FALSE:
        return frozenset()
    purposes = frozenset(part.strip() for part in text.split(","))
    unknown = purposes - CODE_PURPOSES
    if unknown:
        raise ConfigError(f"EMAILCODE_CODE_IN_SUBJECT names no purpose {sorted(unknown)}")
    return purposes


def allowed_domains(value: object) -> tuple[str, ...]:
    """The sign-up domains as ASCII, lower-case, without a trailing dot: ``x.cn`` or ``*.x.cn``.

    Empty means any domain.
    """
    if value is None or isinstance(value, tuple):
        return value or ()
    patterns = []
    for entry in str(value).split(","):
        text = entry.strip().lower().rstrip(".")
        if not text:
            continue
        wildcard = text.startswith("*.")
        try:
            ascii_name = idna.encode(text[2:] if wildcard else text, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ConfigError(
                f"SIGNUP_ALLOWED_DOMAINS has a bad domain: {entry.strip()!r}"
            ) from exc
        if "." not in ascii_name:
            raise ConfigError(f"SIGNUP_ALLOWED_DOMAINS has a bad domain: {entry.strip()!r}")
        patterns.append(f"*.{ascii_name}" if wildcard else ascii_name)
    return tuple(patterns)


_SENTINEL_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_SENTINEL_MASTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def sentinel_addresses(value: object) -> tuple[tuple[str, int], ...]:
    """``REDIS_SENTINELS`` as (host, port) pairs: names or IPv4 addresses, ports 1-65535.

    Checked strictly because the list is written into the URL that ``limits``
    parses, where a stray ``/``, ``@`` or ``;`` would change their meaning.
    """
    if value is None or isinstance(value, tuple):
        return value or ()
    pairs = []
    for entry in str(value).split(","):
        text = entry.strip()
        if not text:
            continue
        host, _, port = text.rpartition(":")
        if not _SENTINEL_HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"REDIS_SENTINELS needs host:port entries, not {text!r}")
        pairs.append((host, int(port)))
    return tuple(pairs)


def uses_redis(config: Mapping[str, Any]) -> bool:
    """Whether codes, limits, statuses and the queue live in Redis (one server or Sentinel's)."""
    return bool(config.get("REDIS_URL") or config.get("REDIS_SENTINELS"))


def check_redis(config: dict[str, Any]) -> None:
    config["REDIS_SENTINELS"] = sentinel_addresses(config.get("REDIS_SENTINELS"))
    master = config.get("REDIS_SENTINEL_MASTER")
    if config["REDIS_SENTINELS"] and config.get("REDIS_URL"):
        raise ConfigError("set REDIS_URL or REDIS_SENTINELS, not both")
    if bool(config["REDIS_SENTINELS"]) != bool(master):
        raise ConfigError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together")
    if master and not _SENTINEL_MASTER.fullmatch(str(master)):
        raise ConfigError("REDIS_SENTINEL_MASTER must be letters, digits, '.', '_' or '-'")
    for name in _SENTINEL_ONLY:
        if config.get(name) and not config["REDIS_SENTINELS"]:
            raise ConfigError(f"{name} is for Redis through Sentinel: set REDIS_SENTINELS too")
    if config.get("REDIS_WAIT_REPLICAS") is None:
        config["REDIS_WAIT_REPLICAS"] = 1 if config["REDIS_SENTINELS"] else 0
    if int(config["REDIS_WAIT_REPLICAS"]) < 0:
        raise ConfigError("REDIS_WAIT_REPLICAS must be 0 or more")
    # Every Redis reply is awaited for a second at most (support/redis_clients.py).
    if not 0 < int(config["REDIS_WAIT_MS"]) < 1000:
        raise ConfigError("REDIS_WAIT_MS must be from 1 to 999")
    url = str(config.get("REDIS_URL") or "")
    if url and urlsplit(url).scheme not in ("redis", "rediss"):
        raise ConfigError("REDIS_URL must start redis:// or rediss:// (TLS)")
    ca_file = config.get("REDIS_CA_FILE")
    if ca_file:
        if not (url.startswith("rediss://") or config.get("REDIS_SENTINEL_TLS")):
            raise ConfigError(
                "REDIS_CA_FILE is for TLS: use a rediss:// REDIS_URL, or REDIS_SENTINEL_TLS=true"
            )
        if not os.access(str(ca_file), os.R_OK):
            raise ConfigError(f"REDIS_CA_FILE cannot be read: {ca_file}")


_SENTINEL_ONLY = (
    "REDIS_SENTINEL_USERNAME",
    "REDIS_SENTINEL_PASSWORD",
    "REDIS_MASTER_USERNAME",
    "REDIS_MASTER_PASSWORD",
    "REDIS_SENTINEL_TLS",
)


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


def finish(config: dict[str, Any], *, instance_path: Path, is_development: bool) -> None:
    """Fill derived settings and refuse to start with a dangerous configuration. The
    layers own their settings' checks: ``MAIL_*`` in ``campus.mail.config``, and
    ``EMAILCODE_*`` in the extension."""
    if not config.get("SECRET_KEY"):
        if not is_development:
            raise ConfigError("SECRET_KEY is required outside development")
        config["SECRET_KEY"] = development_secret_key(instance_path)
    if len(str(config["SECRET_KEY"])) < 16:
        raise ConfigError("SECRET_KEY must be at least 16 characters")
    config.setdefault("SQLALCHEMY_DATABASE_URI", f"sqlite:///{instance_path / 'campus.sqlite3'}")
    check_redis(config)
    config["SESSION_COOKIE_SECURE"] = not is_development
    config.setdefault("SITE_TIMEZONE", BY_NAME["SITE_TIMEZONE"].default)
    try:
        ZoneInfo(str(config["SITE_TIMEZONE"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"SITE_TIMEZONE is not a time zone: {config['SITE_TIMEZONE']!r}") from exc
    config["BABEL_DEFAULT_TIMEZONE"] = config["SITE_TIMEZONE"]
    config["SIGNUP_ALLOWED_DOMAINS"] = allowed_domains(config.get("SIGNUP_ALLOWED_DOMAINS"))
    config["EMAILCODE_CODE_IN_SUBJECT"] = code_in_subject(config.get("EMAILCODE_CODE_IN_SUBJECT"))
    config.setdefault("MAILBOX_DIR", str(instance_path / "mailbox"))
