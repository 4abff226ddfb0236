"""Prometheus metrics: how codes and mail fare, counted by purpose and outcome, never by whom.

No label ever holds an address, an account, a code or a client address: every
label value comes from a fixed set (a purpose, an outcome, a limit's kind, a
relay's name, an exception's class).

Under gunicorn each worker is its own process, so counts live in files shared
through ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and
``/metrics`` sums them; ``deploy/gunicorn.conf.py`` sets that up. A mail worker
on the same host and directory is summed in too.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flask_emailcode import signals as code_signals

CODES_ISSUED = Counter("campus_codes_issued", "Codes issued and handed to mail", ["purpose"])
CODES_CHECKED = Counter(
    "campus_codes_checked", "Codes entered, by the engine's verdict", ["purpose", "outcome"]
)
LIMITS_HIT = Counter("campus_limits_hit", "Requests refused by a limit", ["kind"])
DELIVERIES = Counter(
    "campus_mail_deliveries",
    "Delivery attempts by result (sent, retried, failed) and failure class",
    ["status", "failure"],
)
SMTP_SEND_SECONDS = Histogram(
    "campus_smtp_send_seconds",
    "Time for one message to be accepted by a relay, connection included",
    ["relay"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30),
)
TO_PROVIDER_SECONDS = Histogram(
    "campus_mail_to_provider_seconds",
    "From the request that made a message to the provider's acceptance",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)

# A label value is a short word from the code's own vocabulary; anything else is "other".
_WORD = re.compile(r"[a-z][a-z0-9_.-]{0,39}")


def word(value: Any) -> str:
    text = str(value).lower() if value is not None else ""
    return text if _WORD.fullmatch(text) else "other"


# Codes are counted from the extension's signals, by their non-identifying fields.


@code_signals.code_issued.connect
def _count_issued(app: Any, *, purpose: str, **_: Any) -> None:
    CODES_ISSUED.labels(word(purpose)).inc()


@code_signals.code_verified.connect
def _count_verified(app: Any, *, purpose: str, **_: Any) -> None:
    CODES_CHECKED.labels(word(purpose), "ok").inc()


@code_signals.code_refused.connect
def _count_refused(app: Any, *, purpose: str, outcome: Any, **_: Any) -> None:
    CODES_CHECKED.labels(word(purpose), word(outcome.value)).inc()


# Limits are counted where a request is answered 429 (``web.handlers``), once each.


class _Extra(Collector):
    """Gauges read when scraped, such as the queue's depth."""

    def __init__(self, gauges: dict[str, tuple[str, float]]) -> None:
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (documentation, value) in self.gauges.items():
            yield GaugeMetricFamily(name, documentation, value=value)


def exposition(gauges: dict[str, tuple[str, float]]) -> tuple[bytes, str]:
    """The text a scrape receives: every process's counts, and ``gauges`` read just now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
    else:
        counted = REGISTRY  # one process: its own registry holds everything
    now = CollectorRegistry()
    now.register(_Extra(gauges))
    return generate_latest(counted) + generate_latest(now), CONTENT_TYPE_LATEST


def token_matches(header: str | None, token: str) -> bool:
    """A constant-time check of ``Authorization: Bearer <token>``."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
