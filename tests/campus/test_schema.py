"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import text

from campus.extensions import db

INDEX = "uq_accounts_email_lower"


# Neither tool can reflect an expression index; the next test checks that one directly.
@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning")
@pytest.mark.filterwarnings("ignore:.*expression-based index:sqlalchemy.exc.SAWarning")
def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        differences = [
            diff
            for diff in compare_metadata(context, db.metadata)
            if not (diff[0] in ("add_index", "remove_index") and diff[1].name == INDEX)
        ]
    assert differences == []


def test_the_case_insensitive_unique_index_exists(app: Flask) -> None:
    queries = {
        "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name",
        "postgresql": (
            "SELECT indexdef FROM pg_indexes"
            " WHERE indexname = :name AND schemaname = current_schema()"
        ),
    }
    with app.app_context(), db.engine.connect() as conn:
        definition = conn.execute(text(queries[conn.dialect.name]), {"name": INDEX}).scalar_one()
    assert "UNIQUE" in definition.upper()
    assert re.search(r"lower\(\(?\"?email\"?\)?(::text\))?", definition.lower())
