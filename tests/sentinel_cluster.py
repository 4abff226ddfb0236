"""A Redis Sentinel set-up of a test's own: a master, a replica and three sentinels."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from tests.redis_process import RedisProcess
from tests.smtp_server import LocalCA

MASTER_NAME = "campus"
# Quick to notice a lost master: a second of silence, then a vote of two of the three.
DOWN_AFTER_MS = 1000


class SentinelCluster:
    """With ``password`` the master and replica ask for it (and the replica gives it to the
    master); with ``sentinel_password`` the sentinels ask for theirs; with ``tls`` every
    server and sentinel speaks only TLS, among themselves too. ``server_extra`` are
    more settings for both servers, ``sentinel_extra`` more lines for each sentinel."""

    def __init__(
        self,
        directory: Path,
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
        server_extra: tuple[str, ...] = (),
        sentinel_extra: str = "",
        tls: LocalCA | None = None,
    ) -> None:
        self.directory = directory
        self.password = password
        self.sentinel_password = sentinel_password
        self.tls = tls
        auth = ("--masterauth", password) if password else ()
        over_tls = ("--tls-replication", "yes") if tls else ()
        extra = (*auth, *over_tls, *server_extra)
        self.master = RedisProcess(extra, password=password, tls=tls)
        self.replica = RedisProcess(
            ("--replicaof", "127.0.0.1", str(self.master.port), *extra), password=password, tls=tls
        )
        self.sentinels: list[RedisProcess] = []
        self.sentinel_extra = sentinel_extra

    @property
    def settings(self) -> dict[str, str]:
        """The app's settings to reach Redis through these sentinels."""
        where = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        found = {"REDIS_SENTINELS": where, "REDIS_SENTINEL_MASTER": MASTER_NAME}
        if self.password:
            found["REDIS_MASTER_PASSWORD"] = self.password
        if self.sentinel_password:
            found["REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        if self.tls:
            found["REDIS_SENTINEL_TLS"] = "true"
            found["REDIS_CA_FILE"] = str(self.tls.ca_file)
        return found

    def server(self, port: int) -> redis.Redis:
        """A client of the master or the replica, by port."""
        (found,) = [p for p in (self.master, self.replica) if p.port == port]
        return found.client()

    def start(self) -> SentinelCluster:
        self.master.start()
        self.replica.start()
        replica = self.replica.client()
        if not _until(lambda: replica.info("replication")["master_link_status"] == "up", 10):
            raise RuntimeError("the replica did not reach the master")
        for n in range(3):
            # A sentinel rewrites its own file, so each has one.
            config = self.directory / f"sentinel-{n}.conf"
            auth = f"sentinel auth-pass {MASTER_NAME} {self.password}\n" if self.password else ""
            config.write_text(
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
                f"{auth}{self.sentinel_extra}"
            )
            over_tls = ("--tls-replication", "yes") if self.tls else ()
            sentinel = RedisProcess(
                ("--sentinel", *over_tls),
                str(config),
                password=self.sentinel_password,
                tls=self.tls,
            )
            self.sentinels.append(sentinel.start())
        # A failover needs the sentinels to know each other and the replica.
        if not _until(self._acquainted, 20):
            raise RuntimeError("the sentinels did not find each other and the replica")
        return self

    def _acquainted(self) -> bool:
        for sentinel in self.sentinels:
            client = sentinel.client(decode_responses=True)
            peers = client.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)
            replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
            if len(peers) != 2 or len(replicas) != 1:
                return False
        return True

    def master_port(self, sentinel: RedisProcess) -> int:
        client = sentinel.client(decode_responses=True)
        _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return int(port)

    def kill_master(self) -> None:
        """SIGKILL: no shutdown, nothing handed over."""
        self.master.stop()

    def wait_for_switch(self, timeout: float = 30) -> bool:
        """Until every sentinel names the replica as master, and it acts as one."""

        def switched() -> bool:
            if any(self.master_port(s) != self.replica.port for s in self.sentinels):
                return False
            role = self.replica.client().info("replication")["role"]
            return bool(role == "master")

        return _until(switched, timeout, interval=0.02)

    def close(self) -> None:
        for process in [*self.sentinels, self.replica, self.master]:
            process.close()


def _until(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except redis.RedisError:
            pass
        time.sleep(interval)
    return False
