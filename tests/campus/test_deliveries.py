"""The delivery log: administrators only, masked, filterable, paged, and holding no code."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from campus.blueprints.cms import views
from campus.extensions import db
from campus.mail.statuses import (
    DeliveryLog,
    RedisDeliveryLog,
    SqlDeliveryLog,
    Status,
    mail_deliveries,
)
from campus.models import Role, find_by_email
from tests.app_fixtures import add_staff
from tests.clock import FakeClock
from tests.helpers import PASSWORD, Api, last_code, log_in, member
from tests.queue_worker import Worker, queue_settings, wait_until
from tests.smtp_server import Inbox

ADMIN = "admin@example.com"


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


def admin_api(app: Flask) -> Api:
    result = app.test_cli_runner().invoke(
        args=["user", "create", ADMIN, "--admin", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        account = find_by_email(ADMIN)
        assert account is not None
        person_id = account.id
    from tests.helpers import Person

    return log_in(Person(person_id, ADMIN), app)


def log_page(api: Api, **query: str) -> dict[str, Any]:
    response = api.client.get(
        "/cms/deliveries", query_string=query, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200, response.get_json()
    data: dict[str, Any] = response.get_json()["data"]
    return data


def test_only_administrators_see_it(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    assert app.test_client().get("/cms/deliveries").status_code in (302, 401)
    staff = log_in(add_staff(app, "staff@example.com"), app)
    assert staff.client.get("/cms/deliveries").status_code == 403
    members = log_in(member(app), app)
    assert members.client.get("/cms/deliveries").status_code == 403
    page = admin_api(app).client.get("/cms/deliveries")
    assert page.status_code == 200 and b'id="deliveries"' in page.data


def test_the_right_is_granted_to_existing_staff_and_revoked(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    who = add_staff(app, "staff@example.com")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["user", "admin", who.email]).exit_code == 0
    staff = log_in(who, app)
    assert staff.client.get("/cms/deliveries").status_code == 200
    assert runner.invoke(args=["user", "admin", who.email, "--revoke"]).exit_code == 0
    assert staff.client.get("/cms/deliveries").status_code == 403
    with app.app_context():
        found = find_by_email(who.email)
        assert found is not None and found.role == Role.STAFF
    # Members and unknown addresses cannot be made administrators.
    someone = member(app, "member@example.com")
    refused = runner.invoke(args=["user", "admin", someone.email])
    assert refused.exit_code != 0 and "no staff account" in refused.output
    assert runner.invoke(args=["user", "admin", "nobody@example.com"]).exit_code != 0


def test_direct_deliveries_are_listed_masked_filtered_and_paged(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DELIVERY_LOG_DAYS=3)
    api = log_in(add_staff(app, "staff@example.com"), app)
    for n in range(2):
        assert api.post("/cms/email_captcha", {"email": f"taker{n}@example.edu"}).status_code == 200
    inbox.rcpt_reply = "550 5.1.1 no such mailbox"
    assert api.post("/cms/email_captcha", {"email": "nobody@example.edu"}).status_code == 503
    codes = [last_code(inbox)]
    admin = admin_api(app)
    data = log_page(admin)
    assert data["kept_days"] == 3 and data["more"] is False
    newest, *older = data["deliveries"]
    assert [e["status"] for e in data["deliveries"]] == ["failed", "sent", "sent"]
    assert newest["failure"] == "SMTPRecipientsRefused 550" and newest["attempts"] == 1
    assert all(e["kind"] == "change_email_code" for e in data["deliveries"])
    assert older[0]["relay"] == "primary" and older[0]["attempts"] == 1
    assert older[0]["updated"] >= older[0]["created"] > 0
    # Masked: never the whole address, on the page or in the answer.
    page = admin.client.get("/cms/deliveries").get_data(as_text=True)
    for address in ("taker0@example.edu", "taker1@example.edu", "nobody@example.edu"):
        assert address not in page and address not in str(data)
    assert "example.edu" in newest["recipient"]
    failed = log_page(admin, status="failed")["deliveries"]
    assert [e["id"] for e in failed] == [newest["id"]]
    monkeypatch.setattr(views, "DELIVERIES_PAGE", 2)
    first, second = log_page(admin), log_page(admin, page="2")
    assert first["more"] is True and second["more"] is False
    assert [e["id"] for e in first["deliveries"] + second["deliveries"]] == [
        e["id"] for e in data["deliveries"]
    ]
    for bad in ({"status": "lost"}, {"page": "0"}, {"page": "x"}):
        assert admin.client.get("/cms/deliveries", query_string=bad).status_code == 400
    # Nothing a code could be recovered from is stored with the deliveries.
    with app.app_context():
        rows = db.session.execute(select(mail_deliveries)).all()
    assert len(rows) == 3 and not any(code in str(rows) for code in codes)


def test_the_worker_counts_attempts_and_keeps_them_in_redis(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], redis_url: str, tmp_path: Path
) -> None:
    port, inbox = smtp
    inbox.data_replies = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    settings = queue_settings(port, REDIS_URL=redis_url)
    app = make_app(**settings)
    api = log_in(add_staff(app, "staff@example.com"), app)
    worker = Worker(tmp_path, settings).start()
    try:
        assert api.post("/cms/email_captcha", {"email": "new@example.edu"}).status_code == 200
        assert wait_until(lambda: len(inbox.received) == 1, 20), worker.log()
        admin = admin_api(app)
        # Read before the worker is killed: the status is written just after the send.
        assert wait_until(lambda: log_page(admin)["deliveries"][0]["status"] != "queued", 20)
    finally:
        worker.stop()
    (entry,) = log_page(admin)["deliveries"]
    assert entry["status"] == "sent" and entry["attempts"] == 3
    assert entry["failure"] == "SMTPDataError 451" and entry["relay"] == "primary"
    client = redis.Redis.from_url(redis_url)
    records = [key for key in client.keys("delivery:*") if client.type(key) == b"hash"]
    assert len(records) == 1
    dump = str(client.hgetall(records[0])) + str(client.zrange("delivery:recent", 0, -1))
    assert "new@example.edu" not in dump and last_code(inbox) not in dump


def test_a_message_that_outwaited_its_code_is_not_sent(
    make_app: Callable[..., Flask], smtp: tuple[int, Inbox], redis_url: str, tmp_path: Path
) -> None:
    port, inbox = smtp
    settings = queue_settings(port, REDIS_URL=redis_url, EMAILCODE_TTL=1)
    app = make_app(**settings)
    api = log_in(add_staff(app, "staff@example.com"), app)
    assert api.post("/cms/email_captcha", {"email": "late@example.edu"}).status_code == 200
    time.sleep(1.5)  # no worker yet: the code expires in the queue
    worker = Worker(tmp_path, settings).start()
    admin = admin_api(app)
    try:
        assert wait_until(lambda: log_page(admin)["deliveries"][0]["status"] == "failed", 20)
    finally:
        worker.stop()
    (entry,) = log_page(admin)["deliveries"]
    assert entry["failure"] == "expired in the queue" and entry["attempts"] == 0
    assert inbox.received == []


# Every digit-like character str.isdigit() accepts beyond ASCII, and other odd numbers.
ODD_PAGES = ["²", "³", "¹", "⁴", "①", "١", "۲", "߃", "९", "๓", "１", "𝟘", "0", "-1", "+1", " 1",
             "1 ", "1.0", "1e3", "0x1", "9" * 7, "1_0"]  # fmt: skip


@pytest.mark.parametrize("page", ODD_PAGES)
def test_any_page_that_is_not_a_plain_number_is_bad_input(
    make_app: Callable[..., Flask], page: str
) -> None:
    api = admin_api(make_app())
    response = api.client.get(
        "/cms/deliveries", query_string={"page": page}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 400, (page, response.status_code)
    assert response.get_json()["code"] == 400


@pytest.mark.parametrize("kind", ["sql", "redis"])
def test_the_delivery_log_keeps_and_forgets_on_the_clock_it_is_given(
    kind: str, make_app: Callable[..., Flask], redis_url: str
) -> None:
    clock = FakeClock()
    retention = 3600
    if kind == "redis":
        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        log: DeliveryLog = RedisDeliveryLog(client, retention, clock)
    else:
        app = make_app()
        with app.app_context():
            log = SqlDeliveryLog(db.engine, mail_deliveries, retention, clock)
    log.create("d-old", owner="o", status=Status.QUEUED, ttl=60, kind="k", recipient="r")
    clock.advance(retention + 1)
    log.create("d-new", owner="o", status=Status.QUEUED, ttl=60, kind="k", recipient="r")
    log.set("d-new", Status.SENT)
    entries = log.recent(None, 0, 10)
    # The first has outlived the retention on this clock; the new one was written on it.
    assert [entry.id for entry in entries] == ["d-new"]
    assert entries[0].status is Status.SENT
    assert entries[0].created == pytest.approx(clock(), abs=0.001)
    assert entries[0].updated == pytest.approx(clock(), abs=0.001)
