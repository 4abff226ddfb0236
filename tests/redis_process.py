"""A Redis server of a test's own, to stop and start at will."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from tests.services import free_port
from tests.smtp_server import LocalCA


class RedisProcess:
    """``redis-server`` on a free port; ``config`` is a file to start from (a sentinel's),
    ``extra`` more command-line settings (``--replicaof``, ``--sentinel``).

    With ``password`` it asks every client for it (``requirepass``), or with ``username``
    too, that ACL user is made and the default user turned off; with ``tls`` it
    speaks only TLS, with a certificate for ``localhost`` and 127.0.0.1 from that CA.
    """

    def __init__(
        self,
        extra: tuple[str, ...] = (),
        config: str | None = None,
        *,
        password: str | None = None,
        username: str | None = None,
        tls: LocalCA | None = None,
    ) -> None:
        self.extra = extra
        self.config = config
        self.password = password
        self.username = username
        self.tls = tls
        self.port = free_port()
        self._dir = tempfile.mkdtemp(prefix="campus-redis-outage-")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme, host = ("rediss", "localhost") if self.tls else ("redis", "127.0.0.1")
        user, password = quote(self.username or "", safe=""), quote(self.password or "", safe="")
        credentials = f"{user}:{password}@" if password else ""
        return f"{scheme}://{credentials}{host}:{self.port}/0"

    def client(self, **options: Any) -> redis.Redis:
        """A client that knows the password and trusts the CA."""
        if self.tls:
            options.setdefault("ssl_ca_certs", str(self.tls.ca_file))
        return redis.Redis.from_url(self.url, **options)

    def _tls_arguments(self) -> list[str]:
        if self.tls is None:
            return []
        directory = Path(self._dir)
        issued = self.tls.ca.issue_cert("localhost", "127.0.0.1")
        issued.private_key_pem.write_to_path(str(directory / "redis.key"))
        issued.cert_chain_pems[0].write_to_path(str(directory / "redis.crt"))
        # The port carries TLS only, and clients show no certificate of their own.
        return [
            "--port", "0",
            "--tls-port", str(self.port),
            "--tls-cert-file", str(directory / "redis.crt"),
            "--tls-key-file", str(directory / "redis.key"),
            "--tls-ca-cert-file", str(self.tls.ca_file),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def _auth_arguments(self) -> list[str]:
        if self.password and self.username:
            user = [self.username, "on", f">{self.password}", "~*", "&*", "+@all"]
            return ["--user", "default", "off", "--user", *user]
        return ["--requirepass", self.password] if self.password else []

    def start(self) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        port = self._tls_arguments() or ["--port", str(self.port)]
        self._process = subprocess.Popen(
            [
                binary,
                *([self.config] if self.config else []),
                *self.extra,
                *port,
                *self._auth_arguments(),
                "--bind",
                "127.0.0.1",
                *([] if "--sentinel" in self.extra else ["--save", ""]),
                "--dir",
                self._dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.client(socket_connect_timeout=0.2).ping()
                return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def pause(self) -> None:
        """SIGSTOP: the server holds its connections but answers nothing."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a paused one too
            self._process.kill()
            self._process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
