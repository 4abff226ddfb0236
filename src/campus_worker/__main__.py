"""``python -m campus_worker [--pool gevent|threads] [--concurrency N]``: run the mail worker.

With the gevent pool the standard library is patched first, before anything
below reaches socket, ssl or threading. Without ``--pool``, ``MAIL_WORKER_POOL``
in the environment decides (``flask worker`` has loaded ``.env`` into it).
SIGTERM or SIGINT stops it: it reads nothing more, lets each message in flight
finish, and leaves a message waiting to be tried again to the next worker.
"""

import argparse
import os

from campus_worker.options import POOLS, pool_from

parser = argparse.ArgumentParser(prog="campus_worker", description=__doc__)
parser.add_argument("--pool", choices=POOLS, default=None)
parser.add_argument("--concurrency", type=int, default=None)
args = parser.parse_args()
pool = pool_from(os.environ, args.pool)

if pool == "gevent":
    from gevent import monkey

    monkey.patch_all()

# Everything below must be imported after the patch: it reaches socket, ssl and threading.
import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402

import click  # noqa: E402

from campus import create_app  # noqa: E402
from campus.mail.worker import NO_REDIS, run  # noqa: E402


def main() -> None:
    if args.concurrency is not None:
        # Before the app is built: its Redis pools are sized for every slot.
        os.environ["MAIL_WORKER_CONCURRENCY"] = str(args.concurrency)
    app = create_app()
    if app.config["MAIL_DELIVERY"] != "queue":
        raise click.ClickException(NO_REDIS)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s] %(message)s")
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        if pool == "gevent":
            import gevent

            # gevent's own: a handler that runs in the hub, whatever the main greenlet waits on.
            gevent.signal_handler(number, stopping.set)
        else:
            signal.signal(number, lambda *_: stopping.set())
    run(app, pool, stopping)


if __name__ == "__main__":
    main()
