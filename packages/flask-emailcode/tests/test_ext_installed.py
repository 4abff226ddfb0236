"""What users run: the wheel in a fresh virtual environment with Flask-Mailman, the
README's quick start exactly as written, and the tutorial example, against a real SMTP
server, on memory://, SQLite and Redis."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _services import free_port

PACKAGE = Path(__file__).resolve().parents[1]

# One test process runs them all: the fresh venv (a wheel build and a pip install, a
# minute of CPU) is built once, not once per process that draws one of these tests.
pytestmark = pytest.mark.xdist_group("installed-wheel")

BARE = """
import importlib.util
from flask import Flask
from flask_emailcode import EmailCode
app = Flask("bare")
app.config.update(SECRET_KEY="a-long-enough-secret-key", TESTING=True)
emailcode = EmailCode(app)
with app.test_request_context(), emailcode.capture() as outbox:
    emailcode.send("sign_up", to="a@example.com")
    emailcode.verify("sign_up", address="a@example.com", code=outbox[0].code)
print("verified")
for name in ("sqlalchemy", "redis"):
    print("no-" + name if importlib.util.find_spec(name) is None else name)
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("installed")
    dist = base / "dist"
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds,
    # and another test process may be building the same package at the same moment.
    source = base / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        cwd=base,
    )
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for inside in (
        "flask_emailcode/py.typed",
        "flask_emailcode/translations/zh_Hans/LC_MESSAGES/flask_emailcode.mo",
        "flask_emailcode/templates/emailcode/mail/code.html",
        "flask_emailcode/core/stores/redis.py",
    ):
        assert inside in names
    env = base / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    # The wheel alone, beside nothing but Flask and its own dependencies.
    subprocess.run([env / "bin/pip", "install", "-q", str(wheel)], check=True, cwd=base)
    alone = subprocess.run(
        [env / "bin/python", "-c", BARE], capture_output=True, text=True, cwd=base
    )
    assert alone.stdout.split() == ["verified", "no-sqlalchemy", "no-redis"], alone.stderr
    subprocess.run(
        [env / "bin/pip", "install", "-q", f"{wheel}[sqlalchemy,redis,wtf]", "Flask-Mailman"],
        check=True,
        cwd=base,
    )
    return env


def storage_env(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if kind == "memory":
        return {"FLASK_EMAILCODE_STORAGE_URI": "memory://", "FLASK_DEBUG": "1"}
    if kind == "sqlite":
        return {"FLASK_EMAILCODE_STORAGE_URI": f"sqlite:///{tmp_path / 'codes.sqlite3'}"}
    return {"FLASK_EMAILCODE_STORAGE_URI": request.getfixturevalue("redis_url")}


class Served:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as answer:
            return str(answer.read().decode())

    def post(self, path: str, **form: str) -> tuple[int, dict[str, Any], Any]:
        headers = form.pop("headers", {})
        body = urllib.parse.urlencode(form).encode()
        sent = urllib.request.Request(self.base + path, data=body, headers=headers)  # type: ignore[arg-type]
        try:
            with self.opener.open(sent, timeout=10) as answer:
                return answer.status, json.loads(answer.read()), answer.headers
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, json.loads(refused.read()), refused.headers


@pytest.fixture
def serve(venv: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start(folder: Path, env: dict[str, str]) -> Served:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        with log.open("wb") as sink:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [venv / "bin/flask", "--app", "app", "run", "--port", str(port)],
                cwd=folder,
                env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        started.append(process)
        served = Served(port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                urllib.request.urlopen(served.base + "/", timeout=1).close()
            except urllib.error.HTTPError as answered:
                answered.close()
                return served  # it answers (404 for /)
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the app did not start")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def mail_settings(port: int) -> dict[str, str]:
    return {
        "FLASK_MAIL_SERVER": "127.0.0.1",
        "FLASK_MAIL_PORT": str(port),
        "FLASK_MAIL_USE_SSL": "false",
        # The test server asks for no login.
        "FLASK_MAIL_USERNAME": "",
        "FLASK_MAIL_PASSWORD": "",
        "FLASK_MAIL_DEFAULT_SENDER": "noreply@forum.example",
    }


def code_in(message: Any) -> str:
    text = message.get_body(("plain",)).get_content()
    return next(
        line.strip() for line in text.splitlines() if re.fullmatch(r"[A-Z0-9]{6}", line.strip())
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_the_readme_quick_start_runs_as_written(
    kind: str, serve: Any, smtp: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    readme = (PACKAGE / "README.md").read_text()
    quick_start = re.search(r"## Quick start.*?```python\n(.*?)```", readme, re.S)
    assert quick_start is not None
    assert len(quick_start.group(1).strip().splitlines()) <= 25
    folder = tmp_path / "quick"
    folder.mkdir()
    (folder / "app.py").write_text(quick_start.group(1))
    port, inbox = smtp
    served = serve(folder, {**mail_settings(port), **storage_env(kind, tmp_path, request)})
    status, sent, _ = served.post("/email/code", email="me@example.com")
    assert status == 200 and sent["expires_in"] == 600
    status, refused, headers = served.post("/email/code", email="me@example.com")
    assert status == 429 and int(headers["Retry-After"]) == refused["data"]["retry_after"] > 0
    (message,) = inbox.messages
    assert message["To"] == "me@example.com"
    status, wrong, _ = served.post("/email", email="me@example.com", code="ZZZZZZ")
    assert (status, wrong["data"]["attempts_left"]) == (400, 4)
    status, changed, _ = served.post(
        "/email", email="me@example.com", code=code_in(message).lower()
    )
    assert (status, changed) == (200, {"changed": True})


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_the_tutorial_example_changes_the_email(
    kind: str, serve: Any, smtp: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = tmp_path / "tutorial"
    shutil.copytree(PACKAGE / "examples" / "tutorial", folder)
    port, inbox = smtp
    served = serve(folder, {**mail_settings(port), **storage_env(kind, tmp_path, request)})
    page = served.get("/cms/resetemail")
    assert "old@example.com" in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert token is not None
    csrf = {"X-CSRFToken": token.group(1), "Accept-Language": "zh-CN"}
    status, _, _ = served.post("/cms/email_captcha", email="new@example.com")
    assert status == 400  # no CSRF token: refused, nothing sent
    status, sent, _ = served.post("/cms/email_captcha", email="new@example.com", headers=csrf)
    assert status == 200 and set(sent["data"]) >= {"resend_after", "expires_in", "delivery"}
    (message,) = inbox.messages
    assert message["Subject"].startswith("邮箱验证码")
    code = code_in(message)
    # A mistake in the address field costs no attempt of the code.
    status, same, _ = served.post(
        "/cms/resetemail", email="old@example.com", captcha="ZZZZZZ", headers=csrf
    )
    assert (status, same["message"]) == (400, "不能修改为相同的邮箱!")
    status, done, _ = served.post(
        "/cms/resetemail", email="new@example.com", captcha=f"{code[:3]}-{code[3:]}", headers=csrf
    )
    assert (status, done["code"]) == (200, 200)
    assert "new@example.com" in served.get("/cms/resetemail")
