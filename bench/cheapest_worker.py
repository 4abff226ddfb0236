"""The cheapest honest worker for the app's queue: the floor a real worker is measured against.

    bench/drain.py --worker "floor=.venv/bin/python bench/cheapest_worker.py" ...

It does what any worker of this queue must, and nothing more: a reliable pop
(``XREADGROUP`` into a consumer group, as many entries as it has free slots),
unsealing, rendering and writing the message with the app's own functions,
sending it over a kept-open SMTP session, and one transaction that writes the
status and acknowledges the entry. No status read before sending, no retries,
no relays, no send rate, no metrics, no heartbeat, no taking over another
worker's entries: what the app's worker adds beyond this is what those cost.
Configured by the app's own settings (``REDIS_URL``, ``MAIL_SERVER``, ...).
"""

from gevent import monkey

monkey.patch_all()

import smtplib  # noqa: E402  (after gevent's patching, as in the app's worker)
import time  # noqa: E402

import redis  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from gevent.queue import Queue  # noqa: E402

from campus import create_app  # noqa: E402
from campus.mail import stream  # noqa: E402
from campus.mail.messages import render  # noqa: E402
from campus.mail.sealing import unseal  # noqa: E402

SLOTS = 128


def main() -> None:
    app = create_app()
    config = app.config
    client = redis.Redis.from_url(config["REDIS_URL"], max_connections=SLOTS + 4)
    stream.ensure_group(client)
    sessions: Queue[smtplib.SMTP] = Queue()
    opened = 0
    pool = Pool(SLOTS)

    def session() -> smtplib.SMTP:
        nonlocal opened
        if sessions.empty() and opened < SLOTS:
            opened += 1
            return smtplib.SMTP(config["MAIL_SERVER"], int(config["MAIL_PORT"]), timeout=10)
        return sessions.get()

    def settle(entry_id: str, fields: dict[str, str]) -> None:
        with app.app_context():
            request = unseal(fields["token"], secret_key=config["SECRET_KEY"])
            message = render(request)
            smtp = session()
            try:
                smtp.sendmail(message.from_email, message.recipients(), message.wire())
            finally:
                sessions.put(smtp)
        pipe = client.pipeline(transaction=True)
        pipe.hset(
            f"delivery:{fields['delivery']}", mapping={"status": "sent", "updated": time.time()}
        )
        pipe.xack(stream.STREAM, stream.GROUP, entry_id)
        pipe.xdel(stream.STREAM, entry_id)
        pipe.execute()

    while True:
        free = SLOTS - len(pool)
        if free <= 0:
            pool.wait_available()
            continue
        for entry in stream.read(client, "floor", free, 1000):
            pool.spawn(settle, entry.id, dict(entry.fields))


if __name__ == "__main__":
    main()
