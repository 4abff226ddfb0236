"""The ``MAIL_*`` settings, checked and completed by the layer that sends mail.

``campus.settings`` declares every setting in one table (the README's); each
layer refuses its own bad values, so a relay's rules live beside the relays.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

from email_validator import EmailNotValidError, validate_email

from campus.settings import ConfigError, uses_redis
from campus_worker.options import POOLS


def finish(config: dict[str, Any], *, is_development: bool) -> None:
    """Refuse a mail set-up that cannot work, and fill what follows from the rest."""
    if config.get("MAIL_USE_TLS") and config.get("MAIL_USE_SSL"):
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL are exclusive: 587+TLS or 465+SSL")
    if config.get("MAIL_FALLBACK_USE_TLS") and config.get("MAIL_FALLBACK_USE_SSL"):
        raise ConfigError("MAIL_FALLBACK_USE_TLS and MAIL_FALLBACK_USE_SSL are exclusive")
    if config.get("MAIL_FALLBACK_SERVER") and not config.get("MAIL_SERVER"):
        raise ConfigError("MAIL_FALLBACK_SERVER is a second relay: set MAIL_SERVER first")
    delivery = config.get("MAIL_DELIVERY") or ("queue" if uses_redis(config) else "direct")
    if delivery not in ("queue", "direct"):
        raise ConfigError("MAIL_DELIVERY must be queue or direct")
    if delivery == "queue" and not uses_redis(config):
        raise ConfigError("MAIL_DELIVERY=queue needs REDIS_URL or REDIS_SENTINELS")
    config["MAIL_DELIVERY"] = delivery
    if config.get("MAIL_WORKER_POOL") not in POOLS:
        raise ConfigError("MAIL_WORKER_POOL must be gevent or threads")
    if int(config["MAIL_WORKER_CONCURRENCY"]) < 1:
        raise ConfigError("MAIL_WORKER_CONCURRENCY must be at least 1")
    if int(config["MAIL_DELIVERY_LOG_DAYS"]) < 1:
        raise ConfigError("MAIL_DELIVERY_LOG_DAYS must be at least 1")
    for name in ("MAIL_WORKER_SILENCE", "MAIL_QUEUE_MAX_AGE"):
        if float(config[name]) <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds")
    # A live worker marks its messages each second (campus.mail.consumer): any
    # shorter timeout would hand them to a second worker while the first still works.
    if int(config["MAIL_QUEUE_VISIBILITY_TIMEOUT"]) < 2:
        raise ConfigError("MAIL_QUEUE_VISIBILITY_TIMEOUT must be at least 2 seconds")
    if not config.get("MAIL_SERVER") and not is_development:
        raise ConfigError("MAIL_SERVER is required outside development")
    check_sender(str(config.get("MAIL_DEFAULT_SENDER") or ""))
    # Without a relay (development), mail lands in the instance folder's mailbox.
    if config.get("MAIL_SERVER"):
        config.setdefault("MAIL_BACKEND", "campus.mail.smtp.VerifiedSMTPEmailBackend")
    else:
        config.setdefault("MAIL_BACKEND", "campus.mail.mailbox.MailboxEmailBackend")


def check_sender(sender: str) -> None:
    """``Name <address>`` or a bare address, ASCII, on one line: it becomes a header."""
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
