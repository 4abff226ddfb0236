"""``python -m campus_worker [--pool gevent|threads] [--concurrency N]``: run the mail worker.

With the gevent pool the standard library is patched first, before anything
below reaches socket, ssl or threading. Without ``--pool``, ``MAIL_WORKER_POOL``
in the environment decides (``flask worker`` has loaded ``.env`` into it).
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
import click  # noqa: E402

from campus import create_app  # noqa: E402
from campus.mail.worker import NO_REDIS, run  # noqa: E402


def main() -> None:
    if args.concurrency is not None:
        # Before the app is built: its Redis pools are sized for every slot.
        os.environ["MAIL_WORKER_CONCURRENCY"] = str(args.concurrency)
    app = create_app()
    celery = app.extensions.get("celery")
    if celery is None:
        raise click.ClickException(NO_REDIS)
    with app.app_context():
        run(celery, pool, int(app.config["MAIL_WORKER_CONCURRENCY"]))


if __name__ == "__main__":
    main()
