"""One structured line per security event, never a code or a digest."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from flask import Flask

from campus.support.addresses import mask
from tests.app_fixtures import SECRET
from tests.clock import FakeClock
from tests.helpers import Api, Person, last_code, log_in, wrong_code

NEW = "new.person@example.com"


def test_a_whole_flow_logs_each_event_and_never_the_code(
    app: Flask, staff: Person, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    api = Api(app.test_client())
    log_in(staff, api)
    assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 200
    code = last_code(app, NEW)
    wrong = wrong_code(code)
    assert api.post("/cms/resetemail", {"email": NEW, "captcha": wrong}).status_code == 400
    assert api.post("/cms/email_captcha", {"email": NEW}).status_code == 429
    assert api.post("/cms/resetemail", {"email": NEW, "captcha": code}).status_code == 200

    account = f"account:{staff.id}"
    secrets = [code, wrong]
    for typed in (code, wrong):
        message = f"change_email|{account}|{NEW}|{typed}".encode()
        secrets.append(hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest())
    everything = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in secrets:
        assert secret not in everything
        assert secret.lower() not in everything
    assert NEW not in everything  # addresses appear masked

    events = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "campus.events"
    ]
    names = [item["event"] for item in events]
    for expected in (
        "code.issued",
        "code.refused",
        "code.limited",
        "code.verified",
        "email.changed",
    ):
        assert expected in names, names
    for item in events:
        assert item["account"] == account
        assert item["address"] == mask(NEW)
