"""The libraries' own floor: the extensions the app is built on, and nothing of ours.

Each endpoint at the app's URL does what any implementation on this stack must:
Flask-Login loads the session's user through Flask-SQLAlchemy, Flask-WTF checks
the CSRF token, a WTForms form validates the address with email-validator, and
Celery publishes one task to Redis. No codes, limits, statuses or sealing. What
this reaches bounds what the real app can reach on the same machine.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from celery import Celery
from email_validator import EmailNotValidError, validate_email
from flask import Flask, jsonify, render_template_string, request
from flask_login import LoginManager, UserMixin, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Mapped, mapped_column
from wtforms import StringField
from wtforms.validators import InputRequired, ValidationError

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ["SECRET_KEY"],
    SQLALCHEMY_DATABASE_URI=os.environ["LIBRARIES_DATABASE_URL"],
)
db = SQLAlchemy(app)
csrf = CSRFProtect(app)
login_manager = LoginManager(app)
celery = Celery("libraries", broker=os.environ["REDIS_URL"])
celery.conf.update(task_default_queue="libraries-floor", task_ignore_result=True)

PAGE = '<meta name="csrf-token" content="{{ csrf_token() }}">'


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    found: User | None = db.session.get(User, int(user_id))
    return found


def deliverable_syntax(form: FlaskForm, field: StringField) -> None:
    try:
        validate_email(field.data or "", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from exc


class AddressForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # CSRFProtect checks the header app-wide, as in the app

    email = StringField(validators=[InputRequired(), deliverable_syntax])


@celery.task(name="libraries.deliver")
def deliver(delivery: str, token: str, deadline: float) -> None:
    """Never run: the floor measures publishing only."""


@app.get("/cms/login")
@app.get("/cms/resetemail")
def page() -> str:
    return render_template_string(PAGE)


@app.post("/cms/login")
def login() -> object:
    user = db.session.execute(db.select(User).filter_by(email=request.form["email"])).scalar_one()
    login_user(user)
    return jsonify({"code": 200, "message": "ok", "data": {}})


@app.post("/cms/email_captcha")
@login_required
def email_captcha() -> object:
    form = AddressForm()
    if not form.validate():
        return jsonify({"code": 400, "message": "bad address", "data": form.errors}), 400
    # A payload the size of the app's sealed one.
    deliver.apply_async(args=[secrets.token_urlsafe(16), secrets.token_urlsafe(300), time.time()])
    return jsonify({"code": 200, "message": "ok", "data": {}})


class CodeForm(AddressForm):
    captcha = StringField(validators=[InputRequired()])


@app.post("/cms/resetemail")
@login_required
def resetemail() -> object:
    """The libraries' side of checking a code: login, CSRF and the form; then "wrong"."""
    form = CodeForm()
    if not form.validate():
        return jsonify({"code": 400, "message": "bad input", "data": form.errors}), 400
    return jsonify({"code": 400, "message": "wrong code", "data": {"attempts_left": 4}}), 400


def prepare(accounts: int) -> None:
    with app.app_context():
        db.create_all()
        db.session.add_all(User(email=f"staff{n}@bench.example") for n in range(accounts))
        db.session.commit()


if __name__ == "__main__":
    prepare(int(sys.argv[1]))
