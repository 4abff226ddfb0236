"""The app's shape: configuration, health, and what it refuses to start with."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from campus import create_app
from campus.emailcode import policy as emailcode_policy
from campus.settings import ConfigError, database_uri, from_environment, parse_bool
from tests.helpers import check_envelope
from tests.services import free_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_booleans_accept_the_contract_spellings(text: str, expected: bool) -> None:
    assert parse_bool("X", text) is expected


def test_malformed_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="MAIL_USE_TLS"):
        from_environment({"MAIL_USE_TLS": "maybe"})
    with pytest.raises(ConfigError, match="EMAILCODE_TTL"):
        from_environment({"EMAILCODE_TTL": "ten"})


def test_environment_settings_reach_the_engine_policy(make_app: Callable[..., Flask]) -> None:
    settings = from_environment({"EMAILCODE_TTL": "120", "EMAILCODE_RESEND_COOLDOWN": "30"})
    app = make_app(**settings)
    with app.app_context():
        policy = emailcode_policy()
    assert (policy.ttl, policy.resend_cooldown) == (120, 30)


def test_postgres_urls_use_psycopg_3() -> None:
    assert database_uri("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_uri("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_uri("sqlite:///x") == "sqlite:///x"


def test_production_requires_a_secret_key_and_a_mail_server(tmp_path: Path) -> None:
    base = {"INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({**base, "MAIL_SERVER": "smtp.example.com"})
    with pytest.raises(ConfigError, match="MAIL_SERVER"):
        create_app({**base, "SECRET_KEY": "x" * 32})


def test_development_keeps_a_generated_secret_key(tmp_path: Path) -> None:
    config = {"INSTANCE_PATH": str(tmp_path), "DEBUG": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    first = create_app(config).config["SECRET_KEY"]
    second = create_app(config).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_healthz_answers_when_the_database_does(app: Flask) -> None:
    response = app.test_client().get("/healthz")
    check_envelope(response)
    assert response.status_code == 200
    assert response.get_json()["data"]["database"] == "ok"


def test_healthz_is_503_when_the_database_is_down(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    app.config["SQLALCHEMY_DATABASE_URI"] = "unused"
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=1"
    from sqlalchemy import create_engine

    from campus.extensions import db

    with app.app_context():
        db.engines[None] = create_engine(dead)  # the configured database stops answering
        response = app.test_client().get("/healthz")
    check_envelope(response)
    assert response.status_code == 503
    assert response.get_json()["data"]["database"].startswith("error")


def test_healthz_checks_redis_when_configured(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    # Direct delivery: no worker to watch (tests/campus/test_heartbeat.py has that).
    up = make_app(REDIS_URL=redis_url, MAIL_DELIVERY="direct").test_client().get("/healthz")
    assert up.status_code == 200 and up.get_json()["data"]["redis"] == "ok"
    elsewhere = f"redis://127.0.0.1:{free_port()}/0"
    down = make_app(REDIS_URL=elsewhere).test_client().get("/healthz")
    check_envelope(down)
    assert down.status_code == 503 and down.get_json()["data"]["redis"].startswith("error")


def test_the_dev_mailbox_exists_only_in_development(make_app: Callable[..., Flask]) -> None:
    assert make_app().test_client().get("/dev/mailbox").status_code == 200
    production = make_app(TESTING=False, DEBUG=False, MAIL_SERVER="smtp.example.com")
    assert production.test_client().get("/dev/mailbox").status_code == 404


def test_pages_load_nothing_from_other_origins(app: Flask) -> None:
    page = app.test_client().get("/cms/login").get_data(as_text=True)
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links, "the page links no assets at all"
    assert all(link.startswith("/") and not link.startswith("//") for link in links), links
    assert 'name="csrf-token"' in page


def test_the_worker_pool_must_be_one_the_worker_knows(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ConfigError, match="MAIL_WORKER_POOL"):
        make_app(MAIL_WORKER_POOL="processes")
    with pytest.raises(ConfigError, match="MAIL_WORKER_CONCURRENCY"):
        make_app(MAIL_WORKER_CONCURRENCY=0)
