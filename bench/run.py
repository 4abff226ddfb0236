"""Benchmark: the app's web tier against its libraries' own cost, and the mail worker.

    .venv/bin/python bench/run.py [--seconds 5] [--rounds 3] [--connections 32]
        [--rate 300] [--open-seconds 30] [--only SCENARIO ...]

Starts its own Redis, an SMTP server that takes 200 ms per message, gunicorn
and (for the queue) the mail worker, all on loopback, then for each of

- queue: the app as shipped with REDIS_URL: codes in Redis, mail through Celery;
- sync:  the same app sending within the request (MAIL_DELIVERY=direct);
- libraries: the extensions the app is built on and nothing of ours (login,
  CSRF, form, address check, one Celery publish), on the same gunicorn;
- floor: a bare Flask endpoint doing one Redis write, on the same gunicorn;
- verify: the shipped app checking wrong codes at ``POST /cms/resetemail``, with
  the attempt limits raised so that every request runs the whole check (digest,
  the store's one atomic call, failure counting);
- libraries-verify: the libraries' side of the same request (login, CSRF, form);

runs a closed loop (every connection posts as fast as answers come) for
throughput and latency, in rounds: each setup right after its baseline. No
worker consumes during a closed loop, in any setup: they measure the web tier.
For the queue, the messages the closed loops left then measure the worker: its
delivery rate with the default settings, beside the thread pool it replaced,
each over a fixed window. Last comes an open loop at a fixed rate with one
worker running, for time to inbox. Rate limits stay on, raised out of reach, so
that their cost is counted. Prints Markdown
tables. Every loop is bounded in count and time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMTP_DELAY = 0.2
PASSWORD = "bench password 1"
# Baselines served from bench/ instead of the app.
BENCH_APPS = {
    "floor": "floor_app:app",
    "libraries": "libraries_app:app",
    "libraries-verify": "libraries_app:app",
}
# Checking codes: attempts and failure caps so high that no answer is ever a refusal.
UNBOUNDED_CHECKS = {
    "EMAILCODE_MAX_ATTEMPTS": "1000000000",
    "EMAILCODE_FAILURE_CAP": "1000000000",
    "EMAILCODE_FAILURE_CEILING": "1000000000",
    "EMAILCODE_TTL": "3600",
}
# A well-formed code from the alphabet; the chance it is the one issued is 1 in 887 million.
WRONG_CODE = "ABCDEF"
GUNICORN = ["--workers", "4", "--worker-class", "gthread", "--threads", "8", "--keep-alive", "60"]


SCENARIOS = ["libraries", "queue", "floor", "sync", "libraries-verify", "verify"]
# Run in the last round only: they have no baseline to be compared with round by round.
ONCE = {"floor", "sync"}
# Scenarios whose every answer is the 400 of a wrong code.
CHECKING = {"verify", "libraries-verify"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as handle:
        child = subprocess.Popen(
            args, env=env, cwd=log.parent, stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@dataclass
class Sample:
    address: str
    started: float
    latency: float
    status: int


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    # What a served request answers: 200, or 400 where every answer is a wrong code.
    served: int = 200

    def accepted(self) -> list[Sample]:
        return [s for s in self.samples if s.status == self.served]


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and all its descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent]
        tree.update(children)
        frontier.extend(children)
    return sum(used.get(member, 0.0) for member in tree)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Client:
    """One keep-alive connection with its own logged-in session and CSRF token."""

    def __init__(self, port: int, email: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.token = ""
        if email is not None:
            self._page("/cms/login")
            self._post("/cms/login", {"email": email, "password": PASSWORD})
            self._page("/cms/resetemail")

    def _remember(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]

    def _page(self, path: str) -> None:
        self.conn.request("GET", path, headers={"Cookie": self.cookie})
        response = self.conn.getresponse()
        body = response.read().decode()
        self._remember(response)
        found = re.search(r'name="csrf-token" content="([^"]+)"', body)
        if found:
            self.token = found.group(1)

    def _post(self, path: str, fields: dict[str, str]) -> int:
        headers = {
            "Cookie": self.cookie,
            "X-CSRFToken": self.token,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        self.conn.request("POST", path, body=urlencode(fields), headers=headers)
        response = self.conn.getresponse()
        response.read()
        self._remember(response)
        return response.status

    def check(self, address: str) -> Sample:
        """Post a wrong code for ``address``: the whole check runs, and answers 400."""
        started = time.time()
        clock = time.perf_counter()
        fields = {"email": address, "captcha": WRONG_CODE}
        try:
            status = self._post("/cms/resetemail", fields)
        except (http.client.HTTPException, OSError):
            self.conn.close()
            status = self._post("/cms/resetemail", fields)
        return Sample(address, started, time.perf_counter() - clock, status)

    def ask(self, address: str) -> Sample:
        started = time.time()
        clock = time.perf_counter()
        try:
            status = self._post("/cms/email_captcha", {"email": address})
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed an idle connection: open a new one
            status = self._post("/cms/email_captcha", {"email": address})
        return Sample(address, started, time.perf_counter() - clock, status)


def checked_address(n: int) -> str:
    """The address client ``n`` asks one code for and then checks wrong codes against."""
    return f"verify{n}@bench.example"


def closed_loop(clients: list[Client], seconds: float, tag: str, *, checking: bool = False) -> Run:
    run = Run(served=400 if checking else 200)
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def loop(n: int) -> None:
        i = 0
        while time.perf_counter() < stop_at and i < 100_000:
            if checking:
                sample = clients[n].check(checked_address(n))
            else:
                sample = clients[n].ask(f"{tag}-{n}-{i}-{secrets.token_hex(3)}@bench.example")
            with lock:
                run.samples.append(sample)
            i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def open_loop(clients: list[Client], rate: float, seconds: float, tag: str) -> Run:
    """``rate`` requests a second, spread over the clients, whatever the answers take.

    Each sample's start is when the request was due, not when it went: a late
    request counts its lateness (no coordinated omission).
    """
    run = Run()
    lock = threading.Lock()
    total = int(rate * seconds)
    per_client = len(clients)
    begin = time.perf_counter() + 0.2
    wall = time.time() + 0.2

    def loop(n: int) -> None:
        for i in range(n, total, per_client):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sample = clients[n].ask(f"{tag}-{i}-{secrets.token_hex(3)}@bench.example")
            sample.started = wall + i / rate
            with lock:
                run.samples.append(sample)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(per_client)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = seconds
    return run


def empty_queue(url: str) -> None:
    """Drop what is still queued: the next phase starts on an empty queue."""
    import redis

    client = redis.Redis.from_url(url)
    client.delete("campus-mail", "unacked", "unacked_index")


def to_inbox(run: Run, arrivals: dict[str, float]) -> list[float]:
    return [arrivals[s.address] - s.started for s in run.accepted() if s.address in arrivals]


def prepare_database(directory: Path, env: dict[str, str], accounts: int) -> None:
    subprocess.run(
        [str(BIN / "flask"), "--app", "campus", "db", "upgrade"],
        env=env,
        cwd=directory,
        check=True,
        capture_output=True,
    )
    script = (
        "from campus import create_app\n"
        "from campus.flows.accounts import create_account\n"
        "from campus.models import Role\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        f"    for n in range({accounts}):\n"
        f"        create_account(f'staff{{n}}@bench.example', {PASSWORD!r}, role=Role.STAFF)\n"
        f"        create_account(f'checker{{n}}@bench.example', {PASSWORD!r}, role=Role.STAFF)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, cwd=directory, check=True)


def worker_command(pool: str | None = None, concurrency: int | None = None) -> list[str]:
    command = [str(BIN / "flask"), "--app", "campus", "worker"]
    if pool:
        command += ["--pool", pool]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    return command


# Worker phases: (name, command): the baseline (the thread pool the worker had before)
# first, as it takes only a few hundred of the messages; then the default settings.
WORKERS = [
    ("worker-threads", worker_command("threads", 8)),
    ("worker", worker_command()),
]
# The delivery rate is counted over this window, after the worker has started.
WORKER_WARMUP, WORKER_WINDOW = 3.0, 10.0


def scenario(
    name: str,
    directory: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    redis_pid: int,
    *,
    last_round: bool = True,
) -> dict[str, object]:
    smtp_port, web_port = free_port(), free_port()
    arrivals_file = directory / f"{name}-{secrets.token_hex(2)}-arrivals.json"
    env = {**env, "MAIL_PORT": str(smtp_port)}
    result: dict[str, object] = {"name": name}
    windows: dict[str, tuple[float, float]] = {}
    opened = None
    with process(
        [
            sys.executable,
            str(ROOT / "bench/smtp_sink.py"),
            str(smtp_port),
            str(SMTP_DELAY),
            str(arrivals_file),
        ],
        env,
        directory / f"{name}-smtp.log",
    ) as sink:
        wait_for_port(smtp_port)
        app = BENCH_APPS.get(name, "campus:create_app()")
        gunicorn = [
            str(BIN / "gunicorn"),
            *GUNICORN,
            "--bind",
            f"127.0.0.1:{web_port}",
            "--chdir",
            str(ROOT / "bench") if name in BENCH_APPS else str(directory),
            app,
        ]
        with process(gunicorn, env, directory / f"{name}-gunicorn.log") as web:
            wait_for_port(web_port)
            time.sleep(0.5)
            # Checking codes locks the accounts' failure caps for every setup that keeps
            # the default caps: that scenario has accounts of its own.
            owner = "checker" if name == "verify" else "staff"
            emails = (
                [None] * args.connections
                if name == "floor"
                else [f"{owner}{n}@bench.example" for n in range(args.connections)]
            )
            clients = [Client(web_port, email) for email in emails]
            if name == "verify":
                # A live code in each slot, so each wrong one is counted against it.
                for n, each in enumerate(clients):
                    each.ask(checked_address(n))
            parts = {"web": web.pid, "smtp": sink.pid, "redis": redis_pid}
            before = {part: cpu_seconds(pid) for part, pid in parts.items()}
            load_before = time.process_time()
            closed = closed_loop(clients, args.seconds, f"{name}c", checking=name in CHECKING)
            used = {part: cpu_seconds(pid) - before[part] for part, pid in parts.items()}
            used["load"] = time.process_time() - load_before
            # CPU milliseconds per accepted request, by process: where the cores went.
            result["cpu_ms"] = {
                part: round(seconds * 1000 / max(1, len(closed.accepted())), 2)
                for part, seconds in used.items()
            }
            latencies = [s.latency for s in closed.accepted()]
            result |= {
                "accepted_per_s": len(closed.accepted()) / closed.seconds,
                "errors": len(closed.samples) - len(closed.accepted()),
                "statuses": dict(Counter(str(sample.status) for sample in closed.samples)),
                "p50_ms": percentile(latencies, 0.5) * 1000,
                "p99_ms": percentile(latencies, 0.99) * 1000,
            }
            if name == "queue" and last_round:
                # The closed loop left thousands of messages: each worker drains them for
                # a window, and its rate is what arrives at the provider meanwhile.
                for phase, command in WORKERS:
                    with process(command, env, directory / f"{phase}.log") as mailer:
                        started = time.time()
                        cpu_before = cpu_seconds(mailer.pid)
                        time.sleep(WORKER_WARMUP + WORKER_WINDOW)
                        windows[phase] = (
                            started + WORKER_WARMUP,
                            started + WORKER_WARMUP + WORKER_WINDOW,
                        )
                        result[f"{phase}_cpu_s"] = cpu_seconds(mailer.pid) - cpu_before
                empty_queue(env["REDIS_URL"])
                with process(worker_command(), env, directory / "open-worker.log") as mailer:
                    time.sleep(WORKER_WARMUP)
                    parts = {"web": web.pid, "worker": mailer.pid, "smtp": sink.pid}
                    before = {part: cpu_seconds(pid) for part, pid in parts.items()}
                    opened = open_loop(clients, args.rate, args.open_seconds, f"{name}o")
                    time.sleep(5)  # let the last messages arrive
                    result["open_cpu_cores"] = {
                        part: round((cpu_seconds(pid) - before[part]) / args.open_seconds, 2)
                        for part, pid in parts.items()
                    }
    arrivals: list[tuple[str, float]] = []
    sessions = 0
    if arrivals_file.exists():
        data = json.loads(arrivals_file.read_text())
        arrivals = [(rcpt, at) for rcpt, at in data["arrivals"]]
        sessions = data["sessions"]
    for phase, (start, end) in windows.items():
        delivered = sum(1 for _, at in arrivals if start <= at < end)
        result[f"{phase}_per_s"] = delivered / (end - start)
        result[f"{phase}_cpu_ms"] = round(
            float(str(result[f"{phase}_cpu_s"])) * 1000 / max(1, delivered), 2
        )
    if opened is not None:
        inbox = to_inbox(opened, dict(arrivals))
        late = [s.latency for s in opened.accepted()]
        result |= {
            "open_rate": args.rate,
            "open_seconds": args.open_seconds,
            "open_sent": len(opened.samples),
            "open_accepted": len(opened.accepted()),
            "open_delivered": len(inbox),
            "open_p99_ms": percentile(late, 0.99) * 1000,
            "inbox_p50_ms": percentile(inbox, 0.5) * 1000,
            "inbox_p99_ms": percentile(inbox, 0.99) * 1000,
        }
    result["smtp_sessions"] = sessions
    result["messages"] = len(arrivals)
    return result


# Every request limit on, raised out of reach of one load generator's address.
RAISED_LIMITS = {
    "RATELIMIT_ENABLED": "true",
    "EMAILCODE_LIMIT_PER_IP": "1000000000/hour",
    "EMAILCODE_LIMIT_PER_ACCOUNT": "1000000000/hour",
    "EMAILCODE_LIMIT_PER_ADDRESS": "1000000000/hour",
    "EMAILCODE_VERIFY_LIMIT_PER_IP": "1000000000/hour",
}
# Each real setup beside the baseline it is measured against.
PAIRS = {"queue": "libraries", "verify": "libraries-verify"}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    rounds: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        rounds.setdefault(r["name"], []).append(r)
    print(
        f"{args.connections} connections, closed loops of {args.seconds:.0f} s, "
        f"{args.rounds} rounds; SMTP {SMTP_DELAY * 1000:.0f} ms per message; "
        f"gunicorn {' '.join(GUNICORN)}"
    )
    print()
    print(
        "| setup | accepted req/s (median) | × baseline (median of rounds) | rounds × baseline "
        "| p99 ms (median) | p99 × baseline | errors | web CPU ms/req (median) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in args.only:
        if name not in rounds:
            continue
        mine = rounds[name]
        base = rounds.get(PAIRS.get(name, ""), [])
        pairs = list(zip(mine, base, strict=False)) if base else []
        speed = [m["accepted_per_s"] / b["accepted_per_s"] for m, b in pairs]
        tail = [m["p99_ms"] / b["p99_ms"] for m, b in pairs]
        print(
            f"| {name} | {median([m['accepted_per_s'] for m in mine]):.0f} "
            f"| {f'{median(speed):.2f}' if speed else '–'} "
            f"| {', '.join(f'{x:.2f}' for x in speed) or '–'} "
            f"| {median([m['p99_ms'] for m in mine]):.0f} "
            f"| {f'{median(tail):.2f}' if tail else '–'} "
            f"| {sum(m['errors'] for m in mine)} "
            f"| {median([m['cpu_ms']['web'] for m in mine]):.2f} |"
        )
    queue = rounds.get("queue", [{}])[-1]
    if "open_sent" not in queue:
        return
    print()
    print(f"One worker draining the queue, counted over {WORKER_WINDOW:.0f} s:")
    print()
    print("| worker | messages/s | CPU ms/message |")
    print("|---|---|---|")
    for phase, command in WORKERS:
        shown = " ".join(command[command.index("worker") :])
        print(f"| `{shown}` | {queue[f'{phase}_per_s']:.0f} | {queue[f'{phase}_cpu_ms']:.2f} |")
    print()
    print(
        f"Open loop, {queue['open_rate']:.0f} requests/s for {queue['open_seconds']:.0f} s, "
        "one worker (default settings):"
    )
    print()
    print(
        "| sent | accepted | delivered | answer p99 ms | time to inbox p50 ms | p99 ms "
        "| cores: web, worker, SMTP |"
    )
    print("|---|---|---|---|---|---|---|")
    cores = queue["open_cpu_cores"]
    print(
        f"| {queue['open_sent']} | {queue['open_accepted']} | {queue['open_delivered']} "
        f"| {queue['open_p99_ms']:.0f} | {queue['inbox_p50_ms']:.0f} | {queue['inbox_p99_ms']:.0f} "
        f"| {cores['web']}, {cores['worker']}, {cores['smtp']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--open-seconds", type=float, default=30)
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=SCENARIOS, help="scenarios to run"
    )
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="campus-bench-"))
    redis_port = free_port()
    redis_server = shutil.which("redis-server") or "redis-server"
    base_env = {
        **os.environ,
        **RAISED_LIMITS,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": f"sqlite:///{directory / 'bench.sqlite3'}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_TIMEOUT": "10",
        "PYTHONPATH": str(ROOT / "bench"),
        "LIBRARIES_DATABASE_URL": f"sqlite:///{directory / 'libraries.sqlite3'}",
    }
    base_env.pop("FLASK_DEBUG", None)
    results = []
    with process(
        [redis_server, "--port", str(redis_port), "--save", "", "--bind", "127.0.0.1"],
        base_env,
        directory / "redis.log",
    ) as redis_process:
        wait_for_port(redis_port)
        prepare_database(directory, {**base_env, "MAIL_PORT": "25"}, args.connections)
        subprocess.run(
            [sys.executable, str(ROOT / "bench/libraries_app.py"), str(args.connections)],
            env=base_env,
            check=True,
        )
        envs = {
            "sync": {**base_env, "MAIL_DELIVERY": "direct"},
            "verify": {**base_env, **UNBOUNDED_CHECKS},
        }
        # Each setup and its baseline run in turn, several rounds: the machine's speed
        # drifts, and a ratio taken within one round is steadier than one across rounds.
        for round_ in range(args.rounds):
            last = round_ == args.rounds - 1
            for name in args.only:
                if name in ONCE and not last:
                    continue
                env = envs.get(name, base_env)
                measured = scenario(name, directory, env, args, redis_process.pid, last_round=last)
                results.append({**measured, "round": round_})
    (directory / "results.json").write_text(json.dumps(results, indent=2))
    report(results, args)
    print(f"\nlogs and results.json: {directory}")


if __name__ == "__main__":
    main()
