"""With REDIS_URL set, codes live in Redis and the CMS flow works the same."""

from __future__ import annotations

from collections.abc import Callable

import redis
from flask import Flask
from sqlalchemy import func, select

from campus.emailcode import verification_codes
from campus.extensions import db
from tests.app_fixtures import add_staff
from tests.helpers import Api, last_code, log_in
from tests.services import free_port

NEW = "new@example.com"


def test_change_email_with_codes_in_redis(make_app: Callable[..., Flask], redis_url: str) -> None:
    app = make_app(REDIS_URL=redis_url, MAIL_DELIVERY="direct")
    api = Api(app.test_client())
    log_in(add_staff(app, "staff@example.com"), api)
    assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 200
    code = last_code(app, NEW)
    client = redis.Redis.from_url(redis_url)
    stored = {key.decode() for key in client.scan_iter()}
    codes = {key for key in stored if key.startswith("vc:{")}
    assert codes, "no code was written to Redis"
    # The rest is the budgets' counters and delivery statuses, which live in Redis too.
    others = stored - codes
    assert any("campus-limits" in key for key in others)
    assert all("campus-limits" in key or key.startswith("delivery:") for key in others)
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(verification_codes))
    assert rows == 0
    done = api.post("/cms/resetemail", {"email": NEW, "captcha": code})
    assert done.status_code == 200, done.get_json()
    replay = api.post("/cms/resetemail", {"email": "third@example.com", "captcha": code})
    assert replay.status_code == 400


def test_redis_down_answers_503_not_500(make_app: Callable[..., Flask], redis_url: str) -> None:
    dead = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    staff = add_staff(dead, "staff@example.com")
    api = Api(dead.test_client())
    login = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert login.status_code == 503  # log-in budgets live in Redis too
    # A session opened while Redis answered meets a dead Redis next.
    live = Api(make_app(REDIS_URL=redis_url, MAIL_DELIVERY="direct").test_client())
    log_in(staff, live)
    cookie = live.client.get_cookie("session")
    assert cookie is not None
    api.client.set_cookie("session", cookie.value)
    api.token = live.token
    assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 503
    assert api.post("/cms/resetemail", {"email": NEW, "captcha": "ABCDEF"}).status_code == 503
