"""What waiting for a replica (``REDIS_WAIT_REPLICAS``) costs each code check.

    .venv/bin/python bench/spend_wait.py [--checks 3000] [--rounds 3]

Starts a master and a replica of its own on free loopback ports, then spends
codes through the Redis store, alternating rounds with and without ``WAIT 1``:
a right code each time (saved, then spent), so every check writes and waits.
Prints, per round, wall and process CPU microseconds per check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

from flask_emailcode.core.stores.base import Rules, Slot
from flask_emailcode.core.stores.redis import RedisCodeStore

RULES = Rules(ttl=600_000, cooldown=0, max_attempts=5, cap=20, ceiling=100, window=86_400_000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server(directory: str, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *extra]
    process = subprocess.Popen([*command, "--dir", directory], stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return process, port
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def round_of(store: RedisCodeStore, checks: int, tag: str) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    for n in range(checks):
        slot = Slot(id=f"{tag}{n}", account=f"a{n}", purpose="bench")
        now = int(time.time() * 1000)
        store.save(slot, digest="d", now=now, rules=RULES, client="c")
        store.spend(slot, digest="d", now=now, rules=RULES, client="c")
    return (time.perf_counter() - started), (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="campus-bench-wait-")
    master, port = server(directory)
    replica, replica_port = server(directory, "--replicaof", "127.0.0.1", str(port))
    try:
        client = redis.Redis(port=port, socket_timeout=1.0)
        while redis.Redis(port=replica_port).info("replication")["master_link_status"] != "up":
            time.sleep(0.05)  # the replica's first sync
        plain, waiting = RedisCodeStore(client), RedisCodeStore(client, replicas=1)
        print("| round | setup | wall µs/check | CPU µs/check |")
        print("|---|---|---|---|")
        for number in range(args.rounds):
            for name, store in (("no WAIT", plain), ("WAIT 1", waiting)):
                wall, cpu = round_of(store, args.checks, f"{name}{number}-")
                # A check is one save and one spend here; the save is the same in both.
                per = 1e6 / args.checks
                print(f"| {number + 1} | {name} | {wall * per:.0f} | {cpu * per:.0f} |")
    finally:
        for process in (replica, master):
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)
    print(f"\n(pid {os.getpid()}, {args.checks} save+spend pairs a round)")


if __name__ == "__main__":
    main()
