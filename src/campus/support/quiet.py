"""Work done after the answer, so the answer cannot tell what the work found.

Sign-up and password-reset requests answer the same whether or not an account
has the address. Looking the address up, issuing the code and sending the mail
happen here, on a small thread pool, after the request has already answered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import Flask
from flask_babel import force_locale

from campus.extensions import services
from flask_emailcode.quiet import Quiet as Pool

log = logging.getLogger(__name__)


class Quiet:
    """The extension's after-the-answer pool (``flask_emailcode.quiet``), each job run in
    the app's context and in the language of the request that left it."""

    def __init__(self, app: Flask, workers: int = 4) -> None:
        self._app = app
        self._pool = Pool(workers)

    def submit(self, job: Callable[..., Any], *args: Any, locale: str) -> None:
        self._pool.submit(partial(self._run, job, args, locale))

    def wait(self, timeout: float = 30) -> None:
        """Block until every job submitted so far has finished (tests, shutdown)."""
        self._pool.wait(timeout)

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
