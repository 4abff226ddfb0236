"""Work done after the answer, so the answer cannot tell what the work found.

Sign-up and password-reset requests answer the same whether or not an account
has the address. Looking the address up, issuing the code and sending the mail
happen here, on a small thread pool, after the request has already answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from flask import Flask
from flask_babel import force_locale

from campus.extensions import services

log = logging.getLogger(__name__)


class Quiet:
    def __init__(self, app: Flask, workers: int = 4) -> None:
        self._app = app
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="campus-quiet")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, job: Callable[..., Any], *args: Any, locale: str) -> None:
        future = self._pool.submit(self._run, job, args, locale)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def wait(self, timeout: float = 30) -> None:
        """Block until every job submitted so far has finished (tests, shutdown)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout=timeout)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, job: Callable[..., Any], args: tuple[Any, ...], locale: str) -> None:
        with self._app.app_context(), force_locale(locale):
            try:
                job(*args)
            except Exception:
                # Nobody waits for this answer: the log is where the cause goes.
                log.exception("background job %s failed", getattr(job, "__name__", job))


def init_app(app: Flask) -> None:
    services(app).quiet = Quiet(app)


def quiet() -> Quiet:
    found = services().quiet
    if found is None:
        raise RuntimeError("the app's background pool is not set up (quiet.init_app)")
    return found
