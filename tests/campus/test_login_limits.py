"""Password guessing is throttled without letting anyone lock the owner out."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import itsdangerous.timed
import pytest
from flask import Flask

from campus.web import devices, login_limits
from tests.app_fixtures import add_staff
from tests.helpers import PASSWORD, Api, Person, last_code


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each argon2 verify a log-in runs, by the password it checked."""
    checked: list[str] = []
    real = login_limits.check_password

    def counting(stored: str | None, password: str) -> bool:
        checked.append(password)
        return real(stored, password)

    monkeypatch.setattr(login_limits, "check_password", counting)
    return checked


def browser(app: Flask, ip: str) -> Api:
    api = Api(app.test_client())
    api.client.environ_base["REMOTE_ADDR"] = ip
    api.refresh_token("/login")
    return api


def try_login(api: Api, email: str, password: str, path: str = "/login") -> Any:
    return api.post(path, {"email": email, "password": password})


def limited(response: Any) -> int:
    assert response.status_code == 429, response.get_json()
    wait = int(response.headers["Retry-After"])
    assert wait > 0 and response.get_json()["data"]["retry_after"] == wait
    return wait


@pytest.mark.parametrize("path", ["/login", "/cms/login"])
def test_wrong_passwords_per_account_are_limited_before_any_hashing(
    limits_in: Callable[..., Flask], hashes: list[str], path: str
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="5/hour")
    staff = add_staff(app, "staff@example.com")
    answers = []
    for n in range(12):
        # A new address for each try: the per-client budget is not what is tested.
        stranger = browser(app, f"198.51.100.{n}")
        answers.append(try_login(stranger, staff.email, f"guess {n}", path))
    assert [a.status_code for a in answers[:5]] == [400] * 5
    for answer in answers[5:]:
        assert limited(answer) > 3000
    assert hashes == [f"guess {n}" for n in range(5)]  # refused tries cost no argon2
    # Even the right password is refused past the budget from a stranger's browser.
    limited(try_login(browser(app, "198.51.100.99"), staff.email, staff.password, path))


def test_every_spelling_of_the_address_shares_the_budget(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour")
    add_staff(app, "someone@example.com")
    spellings = ["someone@example.com", "SOMEONE@Example.com", "Someone+x@EXAMPLE.com", "some"]
    answers = [
        try_login(browser(app, f"198.51.100.{n}"), s, "nope").status_code
        for n, s in enumerate([*spellings[:3], spellings[0]])
    ]
    assert answers == [400, 400, 400, 429]


# Spellings of someone+x@example.com that fold to it: KELVIN SIGN, full-width letters,
# a ligature, long s, and a mathematical letter, with and without the tag.
UNICODE_SPELLINGS = [
    "\u212aate@example.com",
    "\u212aate+x@example.com",
    "\uff4bate@example.com",
    "kate+\ufb00@example.com",
    "kate+\u017f@example.com",
    "\U0001d424ate@example.com",
    "KATE+y@EXAMPLE.COM",
]


@pytest.mark.parametrize("spelling", UNICODE_SPELLINGS)
def test_a_unicode_spelling_gets_no_budget_of_its_own(
    limits_in: Callable[..., Flask], spelling: str
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour")
    add_staff(app, "kate@example.com")
    spent = [
        try_login(browser(app, f"198.51.100.{n}"), "kate@example.com", "nope").status_code
        for n in range(3)
    ]
    assert spent == [400, 400, 400]
    limited(try_login(browser(app, "198.51.100.50"), spelling, "nope"))


def test_known_and_unknown_addresses_are_answered_alike(limits_in: Callable[..., Flask]) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="2/hour")
    add_staff(app, "known@example.com")

    def answers(email: str) -> list[tuple[int, str, list[str]]]:
        found = []
        for n in range(3):
            response = try_login(browser(app, f"203.0.113.{n}"), email, "wrong password")
            body = response.get_json()
            found.append((response.status_code, body["message"], sorted(body["data"])))
        return found

    assert answers("known@example.com") == answers("nobody@example.com")


def test_a_strangers_guessing_never_locks_the_owners_browser_out(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour", LOGIN_LIMIT_PER_IP="3/hour")
    staff = add_staff(app, "staff@example.com")
    owner = browser(app, "192.0.2.10")
    assert try_login(owner, staff.email, staff.password).status_code == 200
    owner.refresh_token("/cms/")  # a new session has a new CSRF token
    assert owner.post("/logout").status_code == 200
    # Strangers spend the account's budget, from the owner's own network too.
    for ip in ("198.51.100.1", "198.51.100.2", "192.0.2.10"):
        stranger = browser(app, ip)
        for _ in range(3):
            try_login(stranger, staff.email, "guess")
    limited(try_login(browser(app, "198.51.100.3"), staff.email, staff.password))
    owner.refresh_token("/login")
    assert try_login(owner, staff.email, staff.password).status_code == 200


def _owner_then_strangers(app: Flask, staff: Any) -> Api:
    """The owner logs in and out on a browser, then strangers spend the account's budget."""
    owner = browser(app, "192.0.2.10")
    assert try_login(owner, staff.email, staff.password).status_code == 200
    owner.refresh_token("/cms/")
    assert owner.post("/logout").status_code == 200
    for ip in ("198.51.100.1", "198.51.100.2"):
        for _ in range(3):
            try_login(browser(app, ip), staff.email, "guess")
    owner.refresh_token("/login")
    return owner


def test_a_new_password_forgets_every_browser_the_old_one_logged_in_on(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour", LOGIN_LIMIT_PER_IP="100/hour")
    staff = add_staff(app, "staff@example.com")
    owner = _owner_then_strangers(app, staff)
    result = app.test_cli_runner().invoke(
        args=["user", "password", staff.email, "--password", "a new passphrase"]
    )
    assert result.exit_code == 0, result.output
    # The cookie from before the change names a password that is gone: a stranger's try.
    limited(try_login(owner, staff.email, "a new passphrase"))


def test_a_browser_remembered_longer_ago_than_a_year_is_forgotten(
    limits_in: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour", LOGIN_LIMIT_PER_IP="100/hour")
    staff = add_staff(app, "staff@example.com")
    owner = _owner_then_strangers(app, staff)
    cookie = owner.client.get_cookie(devices.COOKIE)
    assert cookie is not None
    # The same cookie, signed a year and a minute ago: its signature is good.
    signed_at = time.time() - devices.MAX_AGE - 60
    with app.test_request_context():
        value = devices._serializer().loads(cookie.value)
        with monkeypatch.context() as past:
            past.setattr(itsdangerous.timed.time, "time", lambda: signed_at)
            old = devices._serializer().dumps(value)
    owner.client.set_cookie(devices.COOKIE, old)
    # But the server counts the cookie's age itself, whatever the browser kept.
    limited(try_login(owner, staff.email, staff.password))
    # The control: the cookie as it was still lets the owner past the strangers.
    owner.client.set_cookie(devices.COOKIE, cookie.value)
    assert try_login(owner, staff.email, staff.password).status_code == 200


def test_the_owner_on_a_new_browser_gets_back_in_through_a_reset(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="3/hour")
    staff = add_staff(app, "staff@example.com")
    for n in range(4):
        try_login(browser(app, f"198.51.100.{n}"), staff.email, "guess")
    owner = browser(app, "192.0.2.10")
    limited(try_login(owner, staff.email, staff.password))
    assert owner.post("/password/reset/code", {"email": staff.email}).status_code == 200
    code = last_code(app, staff.email)
    new_password = "a new and better passphrase"
    reset = owner.post(
        "/password/reset", {"email": staff.email, "code": code, "password": new_password}
    )
    assert reset.status_code == 200, reset.get_json()
    owner.refresh_token("/login")
    assert try_login(owner, staff.email, new_password).status_code == 200


def test_failures_per_client_address_are_limited_across_accounts(
    limits_in: Callable[..., Flask], hashes: list[str]
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_IP="4/hour")
    stranger = browser(app, "198.51.100.7")
    statuses = [try_login(stranger, f"user{n}@example.com", "guess").status_code for n in range(7)]
    assert statuses == [400] * 4 + [429] * 3
    assert len(hashes) == 4
    # Another client address is not affected.
    assert try_login(browser(app, "198.51.100.8"), "user9@example.com", "x").status_code == 400


def test_successful_log_ins_do_not_count_against_the_client_address(
    limits_in: Callable[..., Flask],
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_IP="2/hour")
    people = [add_staff(app, f"person{n}@example.com") for n in range(5)]
    for person in people:  # five people behind one campus gateway
        assert try_login(browser(app, "192.0.2.1"), person.email, PASSWORD).status_code == 200


def test_parallel_guesses_never_pass_the_budget(
    limits_in: Callable[..., Flask], hashes: list[str]
) -> None:
    app = limits_in(LOGIN_LIMIT_PER_ACCOUNT="4/hour", LOGIN_LIMIT_PER_IP="1000/hour")
    staff: Person = add_staff(app, "staff@example.com")
    clients = [browser(app, f"198.51.100.{n}") for n in range(24)]
    start = threading.Barrier(len(clients))
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(api: Api) -> None:
        start.wait()
        status = try_login(api, staff.email, "parallel guess").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=guess, args=(api,)) for api in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [400] * 4 + [429] * 20
    assert len(hashes) == 4


# Run in a process of its own, so that nothing an earlier app built in this one can
# hide a storage the log-in budgets never built.
FRESH_PROCESS_LOG_IN = """
import json, re, sys
from campus import create_app
from campus.flows.accounts import create_account
from campus.extensions import db
from campus.models import Role
from flask_migrate import upgrade

config = json.loads(sys.argv[1])
app = create_app(config)
with app.app_context():
    upgrade()
    create_account("staff@example.com", "correct horse battery", role=Role.STAFF)
client = app.test_client()
page = client.get("/cms/login").get_data(as_text=True)
token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
statuses = []
for password in ["wrong password 1", "wrong password 2", "correct horse battery"]:
    answer = client.post(
        "/cms/login",
        data={"email": "staff@example.com", "password": password},
        headers={"X-CSRFToken": token},
    )
    statuses.append(answer.status_code)
print(json.dumps(statuses))
"""


def test_log_in_budgets_stay_when_request_limits_are_off(tmp_path: Any) -> None:
    """``RATELIMIT_ENABLED=false`` turns off the request limits, never the log-in budgets."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MAILBOX_DIR": str(tmp_path / "mailbox"),
        "RATELIMIT_ENABLED": False,
        "LOGIN_LIMIT_PER_ACCOUNT": "2/hour",
    }
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_LOG_IN, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [400, 400, 429]
