"""`make test` runs the PostgreSQL cases wherever PostgreSQL is installed, with no URL set."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.services import PostgresServer, _postgres_bindir, missing


def test_a_throwaway_postgres_starts_without_test_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if _postgres_bindir() is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    server = PostgresServer()
    server.start()
    try:
        assert server.url is not None, server.reason
        engine = create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(text("SHOW server_version")).scalar()
            assert conn.execute(text("SELECT current_user")).scalar() == "postgres"
        engine.dispose()
        folder = server._dir
        assert folder is not None and folder.exists()
    finally:
        server.stop()
    assert not folder.exists()


def test_test_database_url_names_the_server_instead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+psycopg://someone@db.invalid/x")
    server = PostgresServer()
    server.start()
    assert server.url == "postgresql+psycopg://someone@db.invalid/x"
    assert server._dir is None  # nothing was started
