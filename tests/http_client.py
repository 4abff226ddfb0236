"""A small HTTP client for tests against a real server (gunicorn), and a way to start one."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode


class Client:
    """One browser: its cookies and CSRF token, a new connection per request."""

    def __init__(self, port: int, forwarded_for: str) -> None:
        self.port = port
        self.forwarded_for = forwarded_for
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, fields: dict[str, str] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {
            "X-Forwarded-For": self.forwarded_for,
            "X-CSRFToken": self.token,
            "Accept": "application/json" if method == "POST" else "text/html",
            # Cookies are Secure outside development; a test over plain HTTP sends them itself.
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        connection.request(method, path, body=urlencode(fields or {}), headers=headers)
        response = connection.getresponse()
        body = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        connection.close()
        if method == "GET":
            found = re.search(r'<meta name="csrf-token" content="([^"]+)">', body)
            if found:
                self.token = found.group(1)
            return response.status
        return response.status, json.loads(body)

    def elsewhere(self, forwarded_for: str) -> Client:
        """The same browser session, seen coming from another address."""
        moved = Client(self.port, forwarded_for)
        moved.cookies, moved.token = dict(self.cookies), self.token
        return moved

    def post(self, path: str, fields: dict[str, str]) -> int:
        status, _ = self.request("POST", path, fields)
        return int(status)


def production_env(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without its Flask and mail settings, plus ``settings``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MAIL_"))}
    return kept | settings


def answers(port: int) -> bool:
    try:
        return Client(port, "192.0.2.1").request("GET", "/healthz") == 200
    except OSError:
        return False


@contextmanager
def serve(command: list[str], *, port: int, env: dict[str, str], cwd: Path) -> Iterator[None]:
    """Run a server until ``/healthz`` answers on ``port``; stop it afterwards."""
    log_path = cwd / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while not answers(port):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)
