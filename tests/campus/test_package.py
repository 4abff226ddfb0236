"""Installed the Python way (a wheel, no make), it migrates, serves and mails in Chinese.

The wheel is built from this checkout, installed into a fresh virtual
environment outside it, and run from a directory that holds no source.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app_fixtures import SECRET
from tests.helpers import code_in
from tests.services import free_port
from tests.smtp_server import Inbox, smtp_server

ROOT = Path(__file__).resolve().parents[2]

# With the extension's install tests, in one test process: each builds wheels from a
# source tree, which two processes at once would race on (build/, the egg-info).
pytestmark = pytest.mark.xdist_group("installed-wheel")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only the built wheels (the app's and the
    extension's it depends on) and their dependencies."""
    base = tmp_path_factory.mktemp("package")
    dist = base / "dist"
    # Built from copies: setuptools writes build/ and *.egg-info into the tree it builds,
    # and another test process may be building the extension at the same moment.
    skip = shutil.ignore_patterns("build", "*.egg-info", ".venv", ".git", "__pycache__")
    extension = base / "flask-emailcode"
    shutil.copytree(ROOT / "packages" / "flask-emailcode", extension, ignore=skip)
    for source in (ROOT, extension):
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
            check=True,
            cwd=base,
        )
    (wheel,) = dist.glob("campus_mail_code-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "campus/translations/zh/LC_MESSAGES/messages.mo" in names
    assert any(name.startswith("campus/migrations/versions/") for name in names)
    env = base / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    subprocess.run(
        [env / "bin/pip", "install", "-q", "--find-links", str(dist), str(wheel)],
        check=True,
        cwd=base,
    )
    return env


def settings(site: Path, smtp_port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return keep | {
        "SECRET_KEY": SECRET,
        "DATABASE_URL": f"sqlite:///{site / 'campus.sqlite3'}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
    }


def post_form(port: int, path: str, body: str, **headers: str) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request("POST", path, body=body, headers=headers)
    answer = connection.getresponse()
    return answer.status, json.loads(answer.read())


def get(port: int, path: str, language: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Accept-Language": language} if language else {}
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode()


@pytest.fixture
def served(installed: Path, tmp_path: Path) -> Iterator[tuple[int, Inbox, Path]]:
    site = tmp_path / "site"  # no source, no .env, no migrations folder here
    site.mkdir()
    with smtp_server("plain") as (smtp_port, inbox):
        env = settings(site, smtp_port)
        upgrade = subprocess.run(
            [installed / "bin/flask", "--app", "campus", "db", "upgrade"],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        port = free_port()
        log = (tmp_path / "gunicorn.log").open("wb")
        server = subprocess.Popen(
            [
                installed / "bin/gunicorn",
                "-w",
                "2",
                "-b",
                f"127.0.0.1:{port}",
                "campus:create_app()",
            ],
            cwd=site,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if get(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
            yield port, inbox, site
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


def test_the_installed_package_runs_from_anywhere(installed: Path) -> None:
    where = subprocess.run(
        [installed / "bin/python", "-c", "import campus; print(campus.__file__)"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(installed)), where


def test_a_wheel_migrates_serves_and_mails_in_chinese(served: tuple[int, Inbox, Path]) -> None:
    port, inbox, site = served
    with sqlite3.connect(site / "campus.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"accounts", "verification_codes", "login_sessions", "rate_limit_hits"} <= tables

    status, page = get(port, "/signup")
    assert status == 200 and 'lang="zh-CN"' in page and "注册" in page
    _, english = get(port, "/signup", language="en")
    assert "Sign up" in english and "注册" not in english

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/signup")
    cookie = connection.getresponse().getheader("Set-Cookie", "").split(";")[0]
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/signup", headers={"Cookie": cookie})
    response = connection.getresponse()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', response.read().decode())
    assert found
    session = {"Cookie": cookie, "X-CSRFToken": found.group(1)}
    status, body = post_form(port, "/signup/code", "email=newcomer%40example.com", **session)
    assert status == 200, body
    assert re.search(r"[\u4e00-\u9fff]", str(body["message"])), body["message"]
    # The same kind of answer in English for a browser that asks for it.
    status, refused = post_form(
        port, "/signup/code", "email=", **session, **{"Accept-Language": "en"}
    )
    assert status == 400 and refused["message"] == "Please enter an email address."

    deadline = time.monotonic() + 10
    while not inbox.received:
        assert time.monotonic() < deadline, "no mail arrived"
        time.sleep(0.05)
    message = inbox.received[0].message
    text = message.get_body(preferencelist=("plain",)).get_content()
    code = code_in(text)
    assert str(message["Subject"]) == f"校园论坛注册验证码：{code}"  # translated, from the wheel
    assert "验证码" in text
