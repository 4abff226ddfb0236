"""The worker's loop: read the stream into free slots, settle each entry, acknowledge it.

One loop reads for every slot: each read asks for as many entries as there are
free slots, so at full speed one round trip fetches many messages, and a slot
that frees is filled by the next read, with no pause. Each slot runs ``handle``
on one entry and acknowledges it through ``Settling.ack``, with whatever else
must be written in the same step; an entry it returns without acknowledging
(Redis did not answer, or the worker is stopping) stays pending and is taken
over again after the visibility timeout.

Every second or so the loop also marks its own entries as still worked on, and
takes over entries other workers (or this one, before it was restarted) left
pending past the visibility timeout. A lost connection is met by reading again
after a pause: redis-py reconnects, through the sentinels under Sentinel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from campus.mail import stream
from campus.mail.stream import Entry
from campus.support import redis_clients

log = logging.getLogger(__name__)

# The longest a read waits for a new entry, so the loop comes round to its upkeep.
BLOCK_MS = 1000
# The longest pause after Redis failed to answer the loop, before it asks again.
MAX_PAUSE = 2.0


class Settling:
    """What a handler is given with its entry: the worker's stop, and the acknowledgement."""

    def __init__(self, client: redis.Redis, entry_id: str, stopping: threading.Event) -> None:
        self._client = client
        self._entry_id = entry_id
        self.stopping = stopping

    def ack(self, writes: Callable[[Any], None] | None = None) -> bool:
        """Acknowledge the entry, and queue ``writes`` on the same transaction before it;
        patiently, as it is idempotent. False when Redis did not take it: the entry is
        taken over later, and its handler finds it settled (or not) by what it wrote."""
        try:
            redis_clients.patiently(
                lambda: stream.ack(self._client, self._entry_id, writes), tries=6
            )
        except redis.RedisError as exc:
            log.error("Couldn't ack mail stream entry %s: %s", self._entry_id, exc)
            return False
        return True


class Consumer:
    def __init__(
        self,
        client: redis.Redis,
        reader: redis.Redis,
        handle: Callable[[Entry, Settling], None],
        *,
        name: str,
        concurrency: int,
        visibility: float,
    ) -> None:
        """``client`` acknowledges and claims; ``reader``, whose timeout outlasts a blocking
        read, reads. ``visibility`` is in seconds."""
        self._client = client
        self._reader = reader
        self._handle = handle
        self.name = name
        self._concurrency = concurrency
        self._idle_ms = int(visibility * 1000)
        # Own entries are marked well within the visibility timeout, and at least each second.
        self._upkeep_every = max(0.2, min(1.0, visibility / 4))
        self._block_ms = min(BLOCK_MS, int(self._upkeep_every * 1000))
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._freed = threading.Event()
        self._cursor = "0-0"
        self._upkept = 0.0
        self.stopping = threading.Event()

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Consume until ``stopping`` is set, then let the slots finish what they hold."""
        self._call_until_answered(lambda: stream.ensure_group(self._client))
        ready()
        slots = ThreadPoolExecutor(self._concurrency, thread_name_prefix="campus-mail")
        pause = 0.0
        try:
            while not self.stopping.is_set():
                try:
                    self._turn(slots)
                except redis.ResponseError as exc:
                    if not stream.is_missing_group(exc):
                        raise
                    # Redis came back empty: the group went with everything else.
                    log.warning("the mail stream's consumer group is gone; creating it again")
                    self._call_until_answered(lambda: stream.ensure_group(self._client))
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    pause = min(MAX_PAUSE, max(0.1, pause * 2))
                    log.warning("Redis connection lost (%s); reading again in %.1f s", exc, pause)
                    self.stopping.wait(pause)
                else:
                    if pause:
                        log.warning("Redis connection back: reading the mail stream again")
                        pause = 0.0
        finally:
            self.stopping.set()  # a retry waiting in a slot hands its entry back now
            slots.shutdown(wait=True, cancel_futures=True)

    def _turn(self, slots: ThreadPoolExecutor) -> None:
        """Fill the free slots: first with what was left too long, then with new entries."""
        free = self._concurrency - self._count()
        if free <= 0:
            self._freed.wait(self._upkeep_every)
            self._freed.clear()
            return
        if time.monotonic() - self._upkept >= self._upkeep_every:
            self._upkept = time.monotonic()
            taken = self._upkeep(free)
            self._start(slots, taken)
            free -= len(taken)
        if free > 0:
            self._start(slots, stream.read(self._reader, self.name, free, self._block_ms))

    def _upkeep(self, free: int) -> list[Entry]:
        """Mark own entries as worked on; take over those left pending too long."""
        with self._lock:
            mine = list(self._in_flight)
        stream.touch(self._client, self.name, mine)
        self._cursor, taken = stream.claim(
            self._client, self.name, self._idle_ms, free, self._cursor
        )
        with self._lock:
            # One of this worker's own that it had not marked in time is still in hand.
            taken = [entry for entry in taken if entry.id not in self._in_flight]
        if taken:
            log.warning("taking over %d message(s) left unacknowledged", len(taken))
        return taken

    def _start(self, slots: ThreadPoolExecutor, entries: list[Entry]) -> None:
        for entry in entries:
            with self._lock:
                self._in_flight.add(entry.id)
            slots.submit(self._settle, entry)

    def _settle(self, entry: Entry) -> None:
        try:
            self._handle(entry, Settling(self._client, entry.id, self.stopping))
        except Exception:
            # Left pending: taken over again after the visibility timeout.
            log.exception("mail stream entry %s: not settled", entry.id)
        finally:
            with self._lock:
                self._in_flight.discard(entry.id)
            self._freed.set()

    def _count(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _call_until_answered(self, call: Callable[[], None]) -> None:
        pause = 0.1
        while not self.stopping.is_set():
            try:
                call()
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis not reachable (%s); trying again in %.1f s", exc, pause)
                self.stopping.wait(pause)
                pause = min(MAX_PAUSE, pause * 2)
