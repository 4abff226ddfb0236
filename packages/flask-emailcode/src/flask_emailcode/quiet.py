"""Work done after the answer, so that neither the answer nor its timing tells what it found.

``send_quietly`` issues its code before answering (so cooldowns and budgets
answer alike), then leaves the look-up and the mail to a small thread pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger("flask_emailcode")


class Quiet:
    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emailcode-quiet")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        future = self._pool.submit(self._run, job)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def wait(self, timeout: float = 30) -> None:
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            # Nobody waits for this answer: the log is where the cause goes.
            log.exception("after-the-answer work failed")
