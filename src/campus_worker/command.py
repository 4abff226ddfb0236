"""``flask worker``: a Flask CLI command from an entry point (``flask.commands``), so the
``flask`` process neither imports nor builds the app only to hand over to the worker.

The worker's own process (``python -m campus_worker``) builds the app once, after
gevent has patched the standard library and with its pools sized for the worker's
slots. Flask's CLI has already loaded ``.env`` into the environment by now.
"""

from __future__ import annotations

import os
import sys

import click

from campus_worker.options import POOLS, pool_from


@click.command("worker")
@click.option(
    "--pool",
    type=click.Choice(POOLS),
    default=None,
    help="gevent (many SMTP sessions in one process) or threads (MAIL_WORKER_POOL)",
)
@click.option(
    "--concurrency", type=int, default=None, help="messages in flight (MAIL_WORKER_CONCURRENCY)"
)
def worker(pool: str | None, concurrency: int | None) -> None:
    """Run the mail delivery worker (needs REDIS_URL or REDIS_SENTINELS)."""
    try:
        chosen = pool_from(os.environ, pool)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    entry = [sys.executable, "-m", "campus_worker", f"--pool={chosen}"]
    if concurrency is not None:
        entry.append(f"--concurrency={concurrency}")
    sys.stdout.flush()
    os.execv(sys.executable, entry)  # noqa: S606  (this interpreter, fixed arguments)
