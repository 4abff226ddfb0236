from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import Engine, create_engine, text

from campus import create_app
from campus.extensions import db, services
from campus.flows.accounts import create_account
from campus.models import Role
from tests.clock import FakeClock
from tests.helpers import PASSWORD, Api, Person, log_in
from tests.services import POSTGRES, missing, postgres_url

SECRET = "test-secret-key-0123456789abcdef"


def base_config(tmp_path: Path, database_uri: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MAILBOX_DIR": str(tmp_path / "mailbox"),
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test: migrations run once."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    app = create_app(base_config(path.parent, f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A migrated schema of its own on the test PostgreSQL, dropped at the end."""
    url = postgres_url()
    if url is None:
        yield None
        return
    schema = f"campus_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    app = create_app(base_config(tmp_path_factory.mktemp("pg"), scoped))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield scoped
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def sqlite_copy(template: Path, directory: Path) -> str:
    """A fresh database for one test: a copy of the migrated template."""
    path = directory / "campus.sqlite3"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_only(tmp_path: Path, sqlite_template: Path) -> str:
    """For tests that do not depend on the database: override database_uri with this."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def database_uri(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_copy(sqlite_template, tmp_path)
        return
    scoped = request.getfixturevalue("postgres_schema")
    if scoped is None:
        missing(f"PostgreSQL app tests: {POSTGRES.reason}")
    engine = create_engine(scoped)
    with engine.begin() as conn:
        tables = ", ".join(
            table.name
            for table in reversed(db.metadata.sorted_tables)
            if table.name != "alembic_version"
        )
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    engine.dispose()
    yield scoped


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_app(tmp_path: Path, database_uri: str, clock: FakeClock) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database; keyword arguments override config."""
    apps: list[tuple[Flask, list[Engine]]] = []

    def make(**extra: Any) -> Flask:
        extra.setdefault("CAMPUS_CLOCK", clock)
        app = create_app(base_config(tmp_path, database_uri, **extra))
        with app.app_context():
            apps.append((app, [db.engine]))  # a test may swap the engine; both get closed
        return app

    yield make
    for app, engines in apps:
        with app.app_context():
            pool = services(app).quiet  # background jobs finish before the pools close
            assert pool is not None
            pool.wait()
            db.session.remove()
            for engine in {*engines, *db.engines.values()}:
                engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture(params=["database", "redis"])
def limits_in(
    request: pytest.FixtureRequest, make_app: Callable[..., Flask]
) -> Callable[..., Flask]:
    """``make_app`` twice over: limits in the app's database, then in Redis (REDIS_URL)."""

    def make(**extra: Any) -> Flask:
        if request.param == "redis":
            extra["REDIS_URL"] = request.getfixturevalue("redis_url")
            extra["MAIL_DELIVERY"] = "direct"  # limits are under test here, not the queue
        return make_app(**extra)

    return make


@pytest.fixture
def staff(app: Flask) -> Person:
    return add_staff(app, "staff@example.com")


def add_staff(app: Flask, email: str) -> Person:
    with app.app_context():
        account = create_account(email, PASSWORD, role=Role.STAFF)
        return Person(account.id, account.email)


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app.test_client())


@pytest.fixture
def logged_in(api: Api, staff: Person) -> Api:
    return log_in(staff, api)
