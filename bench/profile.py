"""CPU per request by layer, in process: where a code request's time goes.

    .venv/bin/python bench/profile.py [--requests 2000] [--scenario request|verify|libraries]
        [--redis redis://127.0.0.1:6379/14] [--html out.html]

Builds the app (or ``bench/libraries_app.py``) in this process against a real
Redis and a SQLite file, logs one staff account in through the test client, and
posts ``--requests`` code requests (or wrong codes) under pyinstrument. Each
sample is charged to the first layer in ``LAYERS`` that any frame of its stack
belongs to; samples waiting on a socket are charged to "waiting" and left out
of CPU. Prints milliseconds per request by layer, and the process's own CPU
time per request (``time.process_time``) as the check on the total.

Rate limits stay on, raised out of reach, so their cost is counted.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench password 1"
HIGH = "1000000000/hour"

# Where a sample's time goes: walking up from the sampled frame, the first frame that is
# not plumbing (a driver, the ORM, the standard library) names the layer that asked for it.
PLUMBING = re.compile(
    r"/(redis|sqlalchemy|flask_sqlalchemy|cryptography|werkzeug/local\.py)/?"
    r"|^<| <built-in>$|/python3\.\d+/(?!site-packages)"
)
WAITING = re.compile(r"^(socket\.)?(recv|recv_into|sendall|select|poll) ")
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("test client (not served)", r"werkzeug/test\.py|flask/testing\.py|bench/profile\.py"),
        (
            "limits",
            r"/limits/|flask_emailcode/budgets|campus/support/budgets|campus/web/rate_limits",
        ),
        ("publish (Celery, kombu)", r"/(celery|kombu|vine|amqp)/"),
        ("user load", r"/flask_login/|campus/web/auth\.py|^load_user "),
        ("CSRF", r"/flask_wtf/csrf"),
        (
            "form and address",
            r"/(wtforms|email_validator|flask_wtf|idna)/|campus/web/forms"
            r"|campus/support/addresses|^deliverable_syntax ",
        ),
        ("engine", r"/flask_emailcode/core/"),
        ("extension", r"/flask_emailcode/"),
        ("mail: outbox, status, sealing", r"campus/mail/"),
        ("flows, binding, models (with their SQL)", r"campus/(flows|emailcode|models)"),
        ("event line", r"campus/support/events"),
        ("session cookie", r"/itsdangerous/|flask/sessions"),
        (
            "templates, i18n, JSON",
            r"/(flask_babel|babel|jinja2|markupsafe)/|campus/web/(responses|i18n|json)",
        ),
        ("our other web code", r"campus/"),
        ("dispatch (Flask, Werkzeug)", r"/(flask|werkzeug)/"),
    ]
]


def layer_of(names: list[str]) -> str:
    if WAITING.search(names[-1]):
        return "waiting"
    for name in reversed(names):
        if PLUMBING.search(name):
            continue
        return next((layer for layer, pattern in LAYERS if pattern.search(name)), "other")
    return "other"


def environment(directory: Path, redis_url: str, checking: bool) -> None:
    os.environ.update(
        {
            "SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{directory / 'profile.sqlite3'}",
            "LIBRARIES_DATABASE_URL": f"sqlite:///{directory / 'libraries.sqlite3'}",
            "REDIS_URL": redis_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": "25",
            "EMAILCODE_LIMIT_PER_ADDRESS": HIGH,
            "EMAILCODE_LIMIT_PER_IP": HIGH,
            "EMAILCODE_LIMIT_PER_ACCOUNT": HIGH,
            "EMAILCODE_VERIFY_LIMIT_PER_IP": HIGH,
            "EMAILCODE_RESEND_COOLDOWN": "0",
        }
    )
    if checking:
        os.environ.update(
            {
                "EMAILCODE_MAX_ATTEMPTS": "1000000000",
                "EMAILCODE_FAILURE_CAP": "1000000000",
                "EMAILCODE_FAILURE_CEILING": "1000000000",
                "EMAILCODE_TTL": "3600",
            }
        )
    os.environ.pop("FLASK_DEBUG", None)


def build(scenario: str) -> Any:
    if scenario == "libraries":  # its code request, or with --scenario libraries-verify its check
        sys.path.insert(0, str(ROOT / "bench"))
        import libraries_app

        libraries_app.prepare(1)
        return libraries_app.app
    from flask_migrate import upgrade

    from campus import create_app
    from campus.flows.accounts import create_account
    from campus.models import Role

    app = create_app()
    with app.app_context():
        upgrade()
        create_account("staff0@bench.example", PASSWORD, role=Role.STAFF)
    return app


def client_for(app: Any) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    page = client.get("/cms/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token, "no CSRF token on the log-in page"
    headers = {"X-CSRFToken": token.group(1), "Accept": "application/json"}
    answer = client.post(
        "/cms/login", data={"email": "staff0@bench.example", "password": PASSWORD}, headers=headers
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    page = client.get("/cms/resetemail").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token
    headers["X-CSRFToken"] = token.group(1)
    return client, headers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--scenario",
        choices=["request", "verify", "libraries", "libraries-verify"],
        default="request",
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--html", help="also write pyinstrument's HTML report here")
    args = parser.parse_args()

    import redis
    from pyinstrument import Profiler

    redis.Redis.from_url(args.redis).flushdb()
    checking = args.scenario in ("verify", "libraries-verify")
    environment(Path(tempfile.mkdtemp(prefix="campus-profile-")), args.redis, checking)
    app = build(args.scenario.removesuffix("-verify") if checking else args.scenario)
    client, headers = client_for(app)
    address = "checked@bench.example"
    if checking:
        assert (
            client.post("/cms/email_captcha", data={"email": address}, headers=headers).status_code
            == 200
        )

    def one(n: int) -> None:
        if checking:
            body = {"email": address, "captcha": "ABCDEF"}
            answer = client.post("/cms/resetemail", data=body, headers=headers)
            assert answer.status_code == 400, answer.get_data(as_text=True)
        else:
            body = {"email": f"p{n}-{secrets.token_hex(3)}@bench.example"}
            answer = client.post("/cms/email_captcha", data=body, headers=headers)
            assert answer.status_code == 200, answer.get_data(as_text=True)

    for n in range(200):  # warm: connections, pools, compiled templates and catalogs
        one(n)
    # CPU per request without the profiler, then where it goes with it: the profiler's
    # own overhead inflates every layer alike, so layers are shown as shares of the former.
    cpu = time.process_time()
    for n in range(args.requests):
        one(n)
    cpu = time.process_time() - cpu
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for n in range(args.requests):
        one(n)
    profiler.stop()

    charged: Counter[str] = Counter()
    for frames, seconds in profiler.last_session.frame_records if profiler.last_session else []:
        charged[layer_of([" ".join(f.split("\x00")[:2]) for f in frames])] += seconds
    per = 1000 / args.requests
    busy = sum(seconds for layer, seconds in charged.items() if layer != "waiting")
    print(f"{args.scenario}: {args.requests} requests, in process")
    print(f"process CPU {cpu * per:.3f} ms/request without the profiler")
    print("| layer | CPU ms per request | share |")
    print("|---|---|---|")
    for name in [layer for layer, _ in LAYERS] + ["other"]:
        if charged[name]:
            share = charged[name] / busy
            print(f"| {name} | {share * cpu * per:.3f} | {share:.0%} |")
    print(f"| (waiting on sockets, not CPU) | – | {charged['waiting'] / busy:.0%} of CPU time |")
    if args.html:
        Path(args.html).write_text(profiler.output_html())


if __name__ == "__main__":
    main()
