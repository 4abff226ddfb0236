"""Benchmark: the mail worker draining a queue, in CPU per delivered message.

    .venv/bin/python bench/drain.py [--messages 5000] [--delays 0 0.2] [--busy 0 3]
        [--worker NAME=COMMAND ...]

Queues ``--messages`` code mails once, the way the app queues them (``POST
/cms/email_captcha`` through the app's test client, logged in as staff, one new
address each, limits on but raised, codes valid a day so that no deadline
passes), and saves that Redis. Then for each SMTP delay and each number of busy
processes competing for the cores, a fresh Redis loads the same messages and
one worker drains them into an SMTP sink in this process: each ``--worker``
in turn (``flask --app campus worker`` by default; another, a baseline or an
earlier commit's, beside it in the same run). The worker's CPU
(user and system, from ``/proc``, its children too) is read at 10 % and at 90 %
delivered: the steady state, start-up left out. Start-up is reported apart.
Every run checks that each message arrived exactly once, that each delivery
status reads ``sent``, and that the worker's log holds no pool error, failed
acknowledgement, reconnect or traceback. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PASSWORD, RAISED_LIMITS, cpu_seconds, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Where a worker's CPU goes (``--profile``, py-spy samples of the 10–90 % window):
# walking up from the sampled frame, the first frame that names a layer takes the
# sample; a driver (redis-py, a socket) or the standard library's plumbing passes it
# up to its caller. py-spy names a library's file from its package, ``(email/...``.
WORKER_LAYERS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("unseal", r"campus/mail/sealing|[(/]cryptography/|[(/]json/"),
        ("DKIM", r"[(/]dkim/|campus/mail/signing"),
        ("status (Redis)", r"campus/mail/statuses"),
        ("MIME", r"campus/mail/mime|[(/]flask_mailman/|[(/]email/|_Composed\.|_check_headers"),
        ("SMTP", r"smtplib\.py|campus/mail/sender"),
        ("rendering", r"[(/](jinja2|flask_babel|babel|markupsafe|pytz|email_validator)/"
                      r"|flask/templating|campus/mail/(rendering|messages)|/addresses\.py"),
        ("metrics", r"[(/]prometheus_client/"),
        ("queue (stream, consumer)", r"campus/mail/(stream|consumer)|concurrent/futures"),
        ("gevent (hub, pool)", r"gevent/(hub|_threading|threadpool)|[(/]greenlet/"),
        ("task body, app context", r"campus/mail/queue|[(/]flask/|[(/]werkzeug/"),
    ]
]  # fmt: skip


def layers(raw: Path) -> dict[str, float]:
    """Shares of the samples in a py-spy raw file (``frame;frame;... count``), by layer."""
    charged: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        layer = next(
            (name for frame in reversed(frames) for name, rx in WORKER_LAYERS if rx.search(frame)),
            "other",
        )
        charged[layer] += int(count)
    total = sum(charged.values()) or 1
    return {name: n / total for name, n in charged.most_common()}


TROUBLE = re.compile(
    r"MaxConnectionsError|Couldn't ack|Connection to broker lost|Restoring \d+ unacknowledged"
    r"|Traceback"
)


class Sink:
    """An SMTP server that takes ``delay`` seconds a message and counts what arrives."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received[envelope.rcpt_tos[0]] += 1
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return sum(self.received.values())


def command_words(command: str) -> list[str]:
    """A ``--worker`` command's words, a relative path among them made absolute: the
    worker runs in its run's own directory, the command is written from where this ran."""
    return [
        str(Path(word).absolute()) if "/" in word and Path(word).exists() else word
        for word in shlex.split(command)
    ]


def start_redis(directory: Path, port: int) -> subprocess.Popen[bytes]:
    server = shutil.which("redis-server") or "redis-server"
    child = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--dbfilename", "queued.rdb", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port)
    return child


def environment(directory: Path, redis_port: int, smtp_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        **RAISED_LIMITS,
        "SECRET_KEY": "drain-bench-secret-key-0123456789",
        "DATABASE_URL": f"sqlite:///{directory / 'drain.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "MAIL_TIMEOUT": "10",
        "EMAILCODE_TTL": "86400",
        "EMAILCODE_RESEND_COOLDOWN": "0",
    }
    env.pop("FLASK_DEBUG", None)
    return env


QUEUE_THEM = """
import re, sys
from flask_migrate import upgrade
from campus import create_app
from campus.flows.accounts import create_account
from campus.models import Role
app = create_app()
with app.app_context():
    upgrade()
    create_account("staff0@drain.example", sys.argv[2], role=Role.STAFF)
client = app.test_client()
def token(path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
headers = {"X-CSRFToken": token("/cms/login"), "Accept": "application/json"}
answer = client.post("/cms/login", data={"email": "staff0@drain.example", "password": sys.argv[2]},
                     headers=headers)
assert answer.status_code == 200, answer.get_data(as_text=True)
headers["X-CSRFToken"] = token("/cms/resetemail")
for n in range(int(sys.argv[1])):
    body = {"email": f"d{n}@drain.example"}
    answer = client.post("/cms/email_captcha", data=body, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
"""


def queue_messages(directory: Path, messages: int) -> None:
    """Queue the messages once and save that Redis as ``queued.rdb``."""
    port = free_port()
    redis = start_redis(directory, port)
    try:
        env = environment(directory, port, 25)
        with (directory / "queueing.log").open("wb") as log:  # an event line per code
            subprocess.run(
                [sys.executable, "-c", QUEUE_THEM, str(messages), PASSWORD],
                env=env, cwd=directory, check=True, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        subprocess.run(["redis-cli", "-p", str(port), "SAVE"], check=True, capture_output=True)
    finally:
        redis.terminate()
        redis.wait()


def statuses(port: int) -> Counter[str]:
    import redis

    client = redis.Redis(port=port, decode_responses=True)
    found: Counter[str] = Counter()
    for key in client.scan_iter("delivery:*", count=1000):
        if client.type(key) == "hash":
            found[client.hget(key, "status") or "?"] += 1
    return found


def commands(port: int) -> Counter[str]:
    """What the worker asked of its Redis (a fresh server: nothing else has asked it)."""
    import redis

    stats = redis.Redis(port=port, decode_responses=True).info("commandstats")
    calls = Counter(
        {name.removeprefix("cmdstat_"): int(each["calls"]) for name, each in stats.items()}
    )
    del calls["info"]  # this one
    return calls


def drain(
    directory: Path,
    messages: int,
    delay: float,
    busy: int,
    worker: list[str],
    profile: bool = False,
) -> dict[str, Any]:
    run = Path(tempfile.mkdtemp(dir=directory, prefix=f"run-{delay}-{busy}-"))
    started = time.monotonic()
    shutil.copy(directory / "queued.rdb", run / "queued.rdb")
    shutil.copy(directory / "drain.sqlite3", run / "drain.sqlite3")
    redis_port, smtp_port = free_port(), free_port()
    redis = start_redis(run, redis_port)
    sink = Sink(delay)
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    log = run / "worker.log"
    env = {**environment(run, redis_port, smtp_port)}
    with log.open("wb") as out:
        child = subprocess.Popen(worker, env=env, cwd=run, stdout=out, stderr=subprocess.STDOUT)
    marks: dict[str, tuple[float, float, int]] = {}
    spy: subprocess.Popen[bytes] | None = None
    try:
        deadline = started + 600
        # A worker that exits (it failed to start) ends the wait, rather than the deadline.
        while True:
            done = sink.count()
            for name, share in (("first", 0.0), ("low", 0.1), ("high", 0.9)):
                if name not in marks and done >= share * messages and (name != "first" or done):
                    marks[name] = (time.monotonic(), cpu_seconds(child.pid), done)
                    if profile and name == "low":
                        spy = _spy(child.pid, run / "profile.txt")
                    if spy is not None and name == "high":
                        spy.send_signal(signal.SIGINT)
                        spy.wait(timeout=60)
            if done >= messages or time.monotonic() > deadline or child.poll() is not None:
                break
            time.sleep(0.02)
        finished = (time.monotonic(), cpu_seconds(child.pid), sink.count())
        time.sleep(1)  # anything sent twice arrives by now
        calls = commands(redis_port)  # before the bench's own reads of the statuses
        found = statuses(redis_port)
    finally:
        child.terminate()
        child.wait(timeout=30)
        for burner in burners:
            burner.kill()
        controller.stop()
        redis.terminate()
        redis.wait()
    if "high" not in marks:
        raise SystemExit(f"{worker}: {finished[2]} of {messages} delivered; its log: {log}")
    (t0, c0, n0), (t1, c1, n1) = marks["low"], marks["high"]
    text = log.read_text(errors="replace")
    received = sink.received
    return {
        "delay": delay,
        "busy": busy,
        "cpu_ms": (c1 - c0) * 1000 / max(1, n1 - n0),
        "start_cpu_s": marks["first"][1] if "first" in marks else float("nan"),
        "all_cpu_ms": finished[1] * 1000 / max(1, finished[2]),
        "per_s": (n1 - n0) / max(1e-9, t1 - t0),
        "cores": (c1 - c0) / max(1e-9, t1 - t0),
        "missing": messages - len(received),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "not_sent": sum(n for status, n in found.items() if status != "sent"),
        "trouble": len(TROUBLE.findall(text)),
        "redis_per_msg": sum(calls.values()) / max(1, len(received)),
        "redis_top": ", ".join(
            f"{name} {n / max(1, len(received)):.2f}" for name, n in calls.most_common(6)
        ),
        "log": str(log),
        "layers": layers(run / "profile.txt") if profile else {},
    }


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the worker (and any child) until interrupted, in raw form."""
    return subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", "200", "--subprocesses",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--delays", type=float, nargs="+", default=[0.0, 0.2])
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--profile", action="store_true", help="CPU by layer (py-spy)")
    parser.add_argument(
        "--worker",
        action="append",
        help="NAME=COMMAND, repeatable (default: app=flask --app campus worker)",
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="campus-drain-"))
    print(f"queueing {args.messages} messages in {directory} ...", flush=True)
    queue_messages(directory, args.messages)
    default = f"app={BIN / 'flask'} --app campus worker"
    workers = [each.split("=", 1) for each in args.worker or [default]]
    rows = []
    for delay in args.delays:
        for busy in args.busy:
            for name, command in workers:
                row = drain(
                    directory, args.messages, delay, busy, command_words(command), args.profile
                )
                rows.append({"worker": name, **row})
                print(rows[-1], flush=True)
    print()
    for name, command in workers:
        print(f"- {name}: `{command}`")
    print(f"\n{args.messages} messages, {os.cpu_count()} cores\n")
    print(
        "| worker | SMTP delay | busy processes | CPU ms/msg (10–90 %) | with start-up "
        "| start-up CPU s | msg/s | cores | Redis commands/msg | missing | duplicates | not `sent` "
        "| log trouble |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [
            r["worker"], f"{r['delay'] * 1000:.0f} ms", r["busy"], f"{r['cpu_ms']:.2f}",
            f"{r['all_cpu_ms']:.2f}", f"{r['start_cpu_s']:.2f}", f"{r['per_s']:.0f}",
            f"{r['cores']:.2f}", f"{r['redis_per_msg']:.1f}", r["missing"], r["duplicates"],
            r["not_sent"], r["trouble"],
        ]  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    print("\nRedis commands per message, the most asked:\n")
    for r in rows:
        print(f"- {r['worker']}, {r['delay'] * 1000:.0f} ms, busy {r['busy']}: {r['redis_top']}")
    if args.profile:
        print("\nCPU ms per message by layer (py-spy shares of the 10–90 % CPU):\n")
        names = sorted({name for r in rows for name in r["layers"]})
        print(
            "| layer | "
            + " | ".join(f"{r['worker']} {r['delay'] * 1000:.0f} ms busy {r['busy']}" for r in rows)
            + " |"
        )
        print("|---|" + "---|" * len(rows))
        for name in names:
            cells = [f"{r['layers'].get(name, 0) * r['cpu_ms']:.2f}" for r in rows]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
