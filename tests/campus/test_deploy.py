"""The shipped deployment files work: gunicorn starts from deploy/gunicorn.conf.py,
and the app sees the client's address behind a proxy only when told to trust it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.app_fixtures import SECRET
from tests.http_client import Client, production_env, serve
from tests.services import free_port
from tests.smtp_server import smtp_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.mark.parametrize("hops", ["0", "1"])
def test_gunicorn_starts_from_the_shipped_config_and_trusts_only_configured_proxies(
    tmp_path: Path, database_uri: str, hops: str
) -> None:
    port = free_port()
    with smtp_server("plain") as (smtp_port, _inbox):
        env = production_env(
            {
                "CAMPUS_BIND": f"127.0.0.1:{port}",
                "WEB_CONCURRENCY": "2",
                "SECRET_KEY": SECRET,
                "DATABASE_URL": database_uri,
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(smtp_port),
                "PROXY_FIX_X_FOR": hops,
                "EMAILCODE_LIMIT_PER_IP": "1/hour",
            }
        )
        command = [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py")]
        with serve(command, port=port, env=env, cwd=tmp_path):
            # Two clients behind the proxy, each named by the proxy's X-Forwarded-For.
            first, second = Client(port, "198.51.100.1"), Client(port, "198.51.100.2")
            assert first.request("GET", "/signup") == 200
            assert second.request("GET", "/signup") == 200
            assert first.post("/signup/code", {"email": "a@example.com"}) == 200
            answer = second.post("/signup/code", {"email": "b@example.com"})
    log = (tmp_path / "server.log").read_text()
    assert "gthread" in log  # the config file was read, not gunicorn's defaults
    # Trusted, the header tells the clients apart; untrusted, both are the proxy.
    assert answer == (200 if hops == "1" else 429)


def test_the_shipped_files_name_each_other_consistently() -> None:
    web = (DEPLOY / "systemd/campus-web.service").read_text()
    worker = (DEPLOY / "systemd/campus-worker.service").read_text()
    nginx = (DEPLOY / "nginx/campus.conf").read_text()
    assert "deploy/gunicorn.conf.py" in web and "flask --app campus worker" in worker
    assert "proxy_pass http://127.0.0.1:8000" in nginx
    assert "X-Forwarded-For $remote_addr" in nginx  # replaced, never appended
    assert "appendonly yes" in (DEPLOY / "redis.conf").read_text()
    compiled = subprocess.run(
        [sys.executable, "-m", "py_compile", str(DEPLOY / "gunicorn.conf.py")], check=False
    )
    assert compiled.returncode == 0
