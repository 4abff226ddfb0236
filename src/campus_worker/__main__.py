"""``python -m campus_worker [--concurrency N]``: patch for gevent, then run the mail worker."""

from gevent import monkey

monkey.patch_all()

# Everything below must be imported after the patch: it reaches socket, ssl and threading.
import argparse  # noqa: E402

import click  # noqa: E402

from campus import create_app  # noqa: E402
from campus.mail.worker import NO_REDIS, run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(prog="campus_worker", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args()
    app = create_app()
    celery = app.extensions.get("celery")
    if celery is None:
        raise click.ClickException(NO_REDIS)
    with app.app_context():
        run(celery, "gevent", args.concurrency or int(app.config["MAIL_WORKER_CONCURRENCY"]))


if __name__ == "__main__":
    main()
