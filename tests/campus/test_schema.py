"""The migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import DateTime, select, text

from campus.emailcode import CodeRefused, Purpose, check_code, verification_codes
from campus.extensions import db
from campus.mail.outbox import delivery_log
from campus.mail.statuses import Status
from campus.models import AccountEmail, find_by_email
from campus.support.addresses import Address
from flask_emailcode.core.codes import account_tag, code_digest, slot_id
from flask_emailcode.testing import wrong_code

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


def test_a_code_stored_before_slots_held_three_still_works_after_the_upgrade(app: Flask) -> None:
    """The migration to three live codes per slot rewrites a stored code, losing none."""
    key = app.config["SECRET_KEY"].encode()
    purpose, account, address, code = "change_email", "account:owner", "a@example.com", "ABCDEF"
    with app.app_context():
        downgrade(revision="5b0d9c3e1a47")
        now = int(app.config["CAMPUS_CLOCK"]() * 1000)
        with db.engine.begin() as conn:
            conn.execute(
                verification_codes.insert().values(
                    slot=slot_id(key=key, purpose=purpose, account=account, address=address),
                    account=account_tag(key=key, account=account),
                    purpose=purpose,
                    digest=code_digest(
                        key=key, purpose=purpose, account=account, address=address, code=code
                    ),
                    state="live",
                    failures=0,
                    expires_at=now + 600_000,
                    resend_at=now + 60_000,
                    retain_until=now + 600_000,
                )
            )
        upgrade()
        verdict = check_code(
            Purpose(purpose), account=account, address=Address(address), code=code, client=""
        )
    assert verdict.is_ok


def test_the_move_to_several_addresses_keeps_every_account_and_its_address(app: Flask) -> None:
    """Today's single address becomes the primary row, on SQLite and PostgreSQL alike."""
    emails = ["Old.Staff@Example.com", "member@example.org"]
    with app.app_context():
        downgrade(revision="7c2e9a41d0b3")
        with db.engine.begin() as conn:
            for day, email in enumerate(emails, start=1):
                conn.execute(
                    text(
                        "INSERT INTO accounts (email, password_hash, role, session_token,"
                        " created_at) VALUES (:email, 'x', 'staff', :token, :at)"
                    ),
                    {"email": email, "token": f"t{day}", "at": datetime(2026, 1, day, tzinfo=UTC)},
                )
            stored = conn.execute(text("SELECT email, id FROM accounts"))
            ids = {email: account_id for email, account_id in stored}
        upgrade()
        rows = db.session.execute(
            select(AccountEmail.account_id, AccountEmail.email, AccountEmail.is_primary)
        ).all()
        found = find_by_email("old.staff@example.com")
        assert found is not None and found.verified_addresses == ["Old.Staff@Example.com"]
    assert sorted(rows) == sorted((ids[email], email, True) for email in emails)


BEFORE = Path(__file__).resolve().parents[1] / "data" / "before_the_extension.json"
ORDER = (
    "accounts", "account_emails", "verification_codes", "verification_failures",
    "rate_limit_hits", "mail_deliveries",
)  # fmt: skip


def test_what_the_app_stored_before_flask_emailcode_carries_over(
    make_app: Callable[..., Flask],
) -> None:
    """Rows the app wrote before the engine moved into Flask-EmailCode (made by the app at
    that commit, see the file's ``made_by``): its code still verifies after the failure it
    had, once, and its delivery still reads as it did."""
    before = json.loads(BEFORE.read_text())
    app = make_app(SECRET_KEY=before["secret_key"], CAMPUS_CLOCK=lambda: before["clock"] + 5)
    address = Address(before["address"])
    account = f"account:{before['staff']['id']}"
    with app.app_context():
        # The schema as it was then, its rows, then whatever migrations have come since.
        downgrade(revision=before["tables"]["alembic_version"][0]["version_num"])
        for name in ORDER:  # the referenced before the referring
            table = db.metadata.tables[name]
            with db.engine.begin() as conn:
                conn.execute(table.insert(), [_typed(table, row) for row in before["tables"][name]])
        upgrade()
        purpose = Purpose("change_email")
        code = before["code"]
        with pytest.raises(CodeRefused) as wrong:
            check_code(purpose, account=account, address=address, code=wrong_code(code), client="")
        # The wrong code typed before the move still counts: this is the second.
        assert wrong.value.verdict.attempts_left == app.config["EMAILCODE_MAX_ATTEMPTS"] - 2
        right = check_code(purpose, account=account, address=address, code=code, client="")
        assert right.is_ok
        with pytest.raises(CodeRefused):  # spent, once
            check_code(purpose, account=account, address=address, code=code, client="")
        (delivery,) = before["tables"]["mail_deliveries"]
        assert delivery_log().get(delivery["id"]) == (Status(delivery["status"]), account)
        assert find_by_email(before["staff"]["email"]) is not None


def _typed(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON kept it, with its date-times parsed back (SQLite kept them in UTC,
    without the zone)."""
    return {
        name: datetime.fromisoformat(value).replace(tzinfo=UTC)
        if isinstance(value, str) and isinstance(table.c[name].type, DateTime)
        else value
        for name, value in row.items()
    }
