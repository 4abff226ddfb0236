"""/metrics: counts that hold across gunicorn workers, behind a bearer token, naming no one."""

from __future__ import annotations

import http.client
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from campus.emailcode import Purpose
from flask_emailcode.core import Outcome
from tests.app_fixtures import SECRET, add_staff
from tests.helpers import Api, log_in
from tests.http_client import Client, production_env, serve
from tests.queue_worker import Worker, queue_settings, wait_until
from tests.services import free_port
from tests.smtp_server import smtp_server

TOKEN = "scrape-token-0123456789"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def test_no_token_configured_means_no_page(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
def test_only_the_token_opens_it(make_app: Callable[..., Flask], header: str | None) -> None:
    client = make_app(METRICS_TOKEN=TOKEN).test_client()
    denied = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert denied.status_code == 401 and b"campus_" not in denied.data
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and b"campus_codes_issued" in allowed.data


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    assert response.status == 200, text
    return parse(text)


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_counts_add_up_across_two_gunicorn_workers(tmp_path: Path, database_uri: str) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with smtp_server("plain") as (smtp_port, inbox):
        settings = {
            "SECRET_KEY": SECRET,
            "DATABASE_URL": database_uri,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "PROXY_FIX_X_FOR": "1",
            "EMAILCODE_LIMIT_PER_IP": "2/hour",
            "METRICS_TOKEN": TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        port = free_port()
        command = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
        with serve(
            [*command, "campus:create_app()"], port=port, env=production_env(settings), cwd=tmp_path
        ):
            # Five clients ask for a code each; one more asks three times and is limited once.
            issued, limited = 0, 0
            for n in range(5):
                client = Client(port, f"198.51.100.{n + 1}")
                assert client.request("GET", "/signup") == 200
                assert client.post("/signup/code", {"email": f"person{n}@example.edu"}) == 200
                issued += 1
            busy = Client(port, "198.51.100.99")
            assert busy.request("GET", "/signup") == 200
            for n in range(3):
                answer = busy.post("/signup/code", {"email": f"busy{n}@example.edu"})
                issued, limited = issued + (answer == 200), limited + (answer == 429)
            # Two wrong codes for an address that has one.
            checker = Client(port, "198.51.100.1")
            assert checker.request("GET", "/signup") == 200
            wrong = {
                "email": "person0@example.edu",
                "code": "000000",
                "password": "a long password 1",
            }
            assert checker.post("/signup", wrong) == 400
            assert checker.post("/signup", wrong) == 400
            # Sign-up mail goes after the answer, and its count with it: wait for the last.
            sign_up = str(Purpose.SIGN_UP)

            def counted() -> float:
                return total(scrape(port), "campus_codes_issued_total", purpose=sign_up)

            assert wait_until(lambda: counted() == issued, 10), counted()
            # Every scrape, whichever worker answers it, sees every worker's counts.
            scrapes = [scrape(port) for _ in range(8)]
    assert (issued, limited) == (7, 1)
    assert len(inbox.received) == issued
    for samples in scrapes:
        assert total(samples, "campus_codes_issued_total", purpose=sign_up) == issued
        checked = total(
            samples, "campus_codes_checked_total", purpose=sign_up, outcome=Outcome.WRONG.value
        )
        assert checked == 2
        assert total(samples, "campus_limits_hit_total") == limited
        assert total(samples, "campus_mail_deliveries_total", status="sent") == issued
        assert total(samples, "campus_smtp_send_seconds_count", relay="primary") == issued
        assert total(samples, "campus_mail_to_provider_seconds_count") == issued
    # Both worker processes keep their values in the shared directory (every process
    # makes its histogram file at start; which one counts a request is gunicorn's choice).
    assert len(list(metrics_dir.glob("histogram_*.db"))) == 2
    # No label names anyone.
    for (_, labels), _value in scrapes[0].items():
        for _key, value in labels:
            assert "@" not in value and "198.51.100" not in value and "person" not in value


def test_the_mail_workers_counts_and_the_queue_depth(
    make_app: Callable[..., Flask],
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with smtp_server("plain") as (smtp_port, inbox):
        settings = queue_settings(smtp_port, REDIS_URL=redis_url, METRICS_TOKEN=TOKEN)
        app = make_app(**settings)
        api = Api(app.test_client())
        log_in(add_staff(app, "staff@example.com"), api)
        for n in range(3):
            assert (
                api.post("/cms/email_captcha", {"email": f"new{n}@example.edu"}).status_code == 200
            )
        # The worker counts into the directory the web tier's /metrics sums.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        bearer = {"Authorization": f"Bearer {TOKEN}"}

        def scraped() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return parse(app.test_client().get("/metrics", headers=bearer).get_data(as_text=True))

        assert total(scraped(), "campus_mail_queue_depth") == 3
        worker = Worker(tmp_path, {**settings, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}).start()
        try:
            assert wait_until(lambda: len(inbox.received) == 3, 20), worker.log()
            assert wait_until(
                lambda: total(scraped(), "campus_mail_deliveries_total", status="sent") == 3, 10
            )
        finally:
            worker.stop()
    samples = scraped()
    assert total(samples, "campus_mail_queue_depth") == 0
    assert total(samples, "campus_smtp_send_seconds_count", relay="primary") == 3
    # Measured from the time each message was queued, carried in its headers.
    assert total(samples, "campus_mail_to_provider_seconds_count") == 3
