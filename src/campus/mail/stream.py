"""The mail queue as a Redis stream read by one consumer group: Redis's own reliable queue.

A message is an entry of the stream. Each worker reads new entries under its
own consumer name (``XREADGROUP``); Redis keeps every entry handed out in the
group's pending list until the worker acknowledges it (``XACK``), which it does
only once the message is settled. An entry pending for longer than the
visibility timeout (its worker was killed, or lost Redis mid-send) is taken
over by whichever worker asks next (``XAUTOCLAIM``), so nothing handed out is
lost; a worker keeps its own entries from looking abandoned while it works on
them (``XCLAIM`` to itself). Acknowledged entries are deleted, so the stream
holds exactly the messages still to settle.

Nothing here knows what a message says: ``campus.mail.queue`` writes and reads
the fields, ``campus.mail.consumer`` runs the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

# Not the key the Celery list used (``campus-mail``): a stream cannot take its place.
STREAM = "campus-mail:stream"
GROUP = "campus-mail-workers"

Fields = dict[str, str]


@dataclass(frozen=True)
class Entry:
    id: str
    fields: Fields


def _text(value: bytes | str) -> str:  # the app's client answers bytes
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: Any) -> list[Entry]:
    # redis-py's typing of stream replies spans every protocol; this is RESP2's
    # list of (id, fields) pairs.
    # An entry deleted while it was pending comes back without fields (before Redis 7).
    return [
        Entry(_text(entry_id), {_text(k): _text(v) for k, v in (fields or {}).items()})
        for entry_id, fields in raw
    ]


def add(client: redis.Redis, fields: Mapping[str, str]) -> str:
    values: dict[Any, Any] = dict(fields)
    return _text(client.xadd(STREAM, values))


def ensure_group(client: redis.Redis) -> None:
    """The group, reading from the stream's start: what was queued before any worker ran
    (or while Redis restarted empty and lost the group) is delivered too."""
    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if not str(exc).startswith("BUSYGROUP"):
            raise


def is_missing_group(exc: redis.ResponseError) -> bool:
    """The group is gone (Redis emptied), or went while a read waited on it."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


def read(client: redis.Redis, consumer: str, count: int, block_ms: int) -> list[Entry]:
    """Up to ``count`` entries never handed out before, waiting up to ``block_ms`` for one."""
    found = client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count, block=block_ms)
    # One stream asked for: [[stream, entries]], or nothing when none came in time.
    return _entries(found[0][1]) if found else []  # type: ignore[index]


def claim(
    client: redis.Redis, consumer: str, idle_ms: int, count: int, cursor: str
) -> tuple[str, list[Entry]]:
    """Up to ``count`` entries pending for longer than ``idle_ms``, now this consumer's,
    and where the next scan of the pending list starts (``0-0``: from the beginning)."""
    answer = client.xautoclaim(STREAM, GROUP, consumer, idle_ms, start_id=cursor, count=count)
    following, raw = answer[0], answer[1]
    return _text(following), [entry for entry in _entries(raw) if entry.fields]


def touch(client: redis.Redis, consumer: str, ids: list[str]) -> None:
    """Mark this consumer's entries as worked on now, so no other worker takes them over."""
    if ids:
        claimed: list[Any] = list(ids)
        client.xclaim(STREAM, GROUP, consumer, 0, claimed, justid=True)


def ack(client: redis.Redis, entry_id: str, writes: Callable[[Any], None] | None = None) -> None:
    """Settled: out of the pending list and out of the stream, in one transaction with
    ``writes`` (queued on the pipeline first), so none of it happens without the rest."""
    pipe = client.pipeline(transaction=True)
    if writes is not None:
        writes(pipe)
    pipe.xack(STREAM, GROUP, entry_id)
    pipe.xdel(STREAM, entry_id)
    pipe.execute()


def depth(client: redis.Redis) -> int:
    """Messages not yet settled: waiting, or in a worker's hands."""
    return int(client.xlen(STREAM))


def oldest(client: redis.Redis) -> Fields | None:
    """The fields of the oldest message not yet settled, or None when there is none."""
    first = _entries(client.xrange(STREAM, count=1))
    return first[0].fields if first else None
