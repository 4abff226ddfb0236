"""Accounts: the model, the CLI, logging in and out, and the session cookie."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from campus.extensions import db
from campus.models import Account, Role
from campus.support.passwords import check_password
from tests.app_fixtures import add_staff
from tests.helpers import PASSWORD, Api, Person, add_addresses, last_code, log_in


def test_email_is_unique_regardless_of_case_in_the_database(app: Flask) -> None:
    with app.app_context():
        db.session.add(Account(email="Same@Example.com", password_hash="x", role=Role.STAFF))
        db.session.commit()
        db.session.add(Account(email="same@example.COM", password_hash="x", role=Role.STAFF))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_passwords_are_stored_as_argon2_hashes(app: Flask, staff: Person) -> None:
    with app.app_context():
        account = db.session.get(Account, staff.id)
        assert account is not None
        assert account.password_hash.startswith("$argon2id$")
        assert PASSWORD not in account.password_hash
        assert check_password(account.password_hash, PASSWORD)
        assert not check_password(account.password_hash, PASSWORD + "x")


def test_cli_creates_a_staff_account(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "create", "New@Example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    with app.app_context():
        account = db.session.scalar(select(Account))
        assert account is not None
        assert (account.email, account.role) == ("New@example.com", Role.STAFF)


def test_cli_prompts_for_the_password_and_refuses_duplicates(app: Flask) -> None:
    runner = app.test_cli_runner()
    prompted = runner.invoke(
        args=["user", "create", "a@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    again = runner.invoke(args=["user", "create", "A@EXAMPLE.com", "--password", PASSWORD])
    assert again.exit_code != 0
    assert "already exists" in again.output
    short = runner.invoke(args=["user", "create", "b@example.com", "--password", "short"])
    assert short.exit_code != 0


def test_bootstrap_prints_a_first_account_once(app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["user", "bootstrap"])
    password = first.output.split("password:")[1].split()[0]
    api = Api(app.test_client())
    response = api.post("/cms/login", {"email": "admin@campus.example", "password": password})
    assert response.status_code == 200
    second = runner.invoke(args=["user", "bootstrap"])
    assert second.exit_code == 0 and "password" not in second.output


def test_login_and_logout(api: Api, staff: Person) -> None:
    assert api.client.get("/cms/").status_code == 302
    log_in(staff, api)
    page = api.client.get("/cms/")
    assert page.status_code == 200
    assert staff.email in page.get_data(as_text=True)
    assert api.post("/cms/logout").status_code == 200
    assert api.client.get("/cms/").status_code == 302


def test_wrong_password_or_unknown_email_is_refused_alike(api: Api, staff: Person) -> None:
    wrong = api.post("/cms/login", {"email": staff.email, "password": "not it at all"})
    unknown = api.post("/cms/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.get_json()["message"] == unknown.get_json()["message"]


def test_login_starts_a_fresh_session(api: Api, staff: Person) -> None:
    api.refresh_token()
    with api.client.session_transaction() as session:
        session["planted"] = "by an attacker"
        token_before = session["csrf_token"]
    log_in(staff, api)
    with api.client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != token_before


def test_session_cookie_is_httponly_and_lax_in_development(api: Api, staff: Person) -> None:
    response = api.post("/cms/login", {"email": staff.email, "password": staff.password})
    assert response.status_code == 200
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_outside_development(make_app: Callable[..., Flask]) -> None:
    app = make_app(TESTING=False, DEBUG=False, MAIL_SERVER="smtp.example.com")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    staff = add_staff(app, "prod@example.com")
    api = Api(app.test_client())
    # Secure cookies only travel over HTTPS, so the test speaks HTTPS.
    api.client.environ_base["wsgi.url_scheme"] = "https"
    api.refresh_token()
    response = api.post(
        "/cms/login",
        {"email": staff.email, "password": staff.password},
        headers={"Referer": "https://localhost/cms/login"},
    )
    assert response.status_code == 200, response.get_json()
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_open_redirects_are_refused_after_login(api: Api, staff: Person) -> None:
    response = api.post(
        "/cms/login?next=//evil.example/x", {"email": staff.email, "password": staff.password}
    )
    assert response.get_json()["data"]["next"] == "/cms/"


def test_members_get_403_in_the_cms(app: Flask) -> None:
    from campus.flows.accounts import create_account

    with app.app_context():
        create_account("member@example.com", PASSWORD, role=Role.MEMBER)
    api = Api(app.test_client())
    log_in(Person(0, "member@example.com"), api)
    response = api.post("/cms/email_captcha", {"email": "x@example.com"})
    assert response.status_code == 403
    page = api.client.get("/cms/resetemail")
    assert page.status_code == 403
    assert page.mimetype == "text/html"


def test_password_change_ends_sessions_and_voids_codes(app: Flask, staff: Person) -> None:

    api = Api(app.test_client())
    log_in(staff, api)
    assert api.post("/cms/email_captcha", {"email": "new@example.com"}).status_code == 200
    code = last_code(app, "new@example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "password", staff.email, "--password", "a new passphrase"])
    assert result.exit_code == 0, result.output
    # This session ended with the password change.
    assert api.client.get("/cms/").status_code == 302
    again = Api(app.test_client())
    log_in(Person(staff.id, staff.email, "a new passphrase"), again)
    response = again.post("/cms/resetemail", {"email": "new@example.com", "captcha": code})
    assert response.status_code == 400  # the outstanding code is void
    old = Api(app.test_client()).post("/cms/login", {"email": staff.email, "password": PASSWORD})
    assert old.status_code == 400


def test_an_account_built_without_a_role_is_refused_not_made_staff(app: Flask) -> None:
    with app.app_context():
        db.session.add(Account(email="nobody@example.com", password_hash="x"))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(Account).filter_by(email="nobody@example.com")) is None


def test_creating_an_account_names_its_role() -> None:
    from campus.flows.accounts import create_account

    with pytest.raises(TypeError):
        create_account("x@example.com", PASSWORD)  # type: ignore[call-arg]


def _address_codes(app: Flask, address: str) -> dict[str, str]:
    """A log-in code and a reset code for the address, as a stranger would ask for them."""
    from tests.helpers import settle

    api = Api(app.test_client())
    api.refresh_token("/login")
    codes = {}
    for ask, kind in (("/login/code", "log_in"), ("/password/reset/code", "reset")):
        assert api.post(ask, {"email": address}).status_code == 200
        settle(app)
        codes[kind] = last_code(app, address)
    return codes


def _still_work(app: Flask, address: str, codes: dict[str, str]) -> list[str]:
    """Which of the codes still do their work, each from a browser of its own."""
    tries = {
        "log_in": ("/login", {"email": address, "code": codes["log_in"]}),
        "reset": (
            "/password/reset",
            {"email": address, "code": codes["reset"], "password": "yet another passphrase"},
        ),
    }
    working = []
    for kind, (path, form) in tries.items():
        api = Api(app.test_client())
        api.refresh_token("/login")
        if api.post(path, form).status_code == 200:
            working.append(kind)
    return working


def test_a_password_change_voids_the_log_in_and_reset_codes_of_every_address(
    app: Flask, staff: Person
) -> None:
    second = "second@example.com"
    add_addresses(app, staff, second)
    outstanding = {address: _address_codes(app, address) for address in (staff.email, second)}
    result = app.test_cli_runner().invoke(
        args=["user", "password", staff.email, "--password", "a new passphrase"]
    )
    assert result.exit_code == 0, result.output
    for address, codes in outstanding.items():
        assert _still_work(app, address, codes) == [], address


def test_an_email_change_voids_the_log_in_and_reset_codes_of_every_address(
    app: Flask, staff: Person
) -> None:
    second = "second@example.com"
    add_addresses(app, staff, second)
    outstanding = _address_codes(app, second)
    api = log_in(staff, Api(app.test_client()))
    assert api.post("/cms/email_captcha", {"email": "moved@example.com"}).status_code == 200
    code = last_code(app, "moved@example.com")
    changed = api.post("/cms/resetemail", {"email": "moved@example.com", "captcha": code})
    assert changed.status_code == 200, changed.get_json()
    assert _still_work(app, second, outstanding) == []


def test_outstanding_address_codes_work_while_nothing_changes(app: Flask, staff: Person) -> None:
    """The control for the two tests above: the same codes, untouched, do their work."""
    codes = _address_codes(app, staff.email)
    assert _still_work(app, staff.email, codes) == ["log_in", "reset"]
