"""The campus forum's account system: a Flask app around the verification engine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from flask import Flask

from campus import cli, emailcode, settings
from campus.blueprints.access import bp as access_bp
from campus.blueprints.account import bp as account_bp
from campus.blueprints.cms import bp as cms_bp
from campus.blueprints.dev import bp as dev_bp
from campus.blueprints.main import bp as main_bp
from campus.extensions import csrf, db, mail, migrate
from campus.mail import config as mail_config
from campus.mail import setup as mail_delivery
from campus.support import events, quiet
from campus.web import auth, handlers, headers, i18n, rate_limits
from campus.web.json_provider import SafeJSONProvider

# Inside the package, so an installed wheel migrates from any directory.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, error handlers, CLI."""
    instance = (test_config or {}).get("INSTANCE_PATH") or Path.cwd() / "instance"
    app = Flask(__name__, instance_path=str(Path(instance).resolve()))
    app.json = SafeJSONProvider(app)
    # Our defaults override Flask's own (SESSION_COOKIE_SAMESITE is None there).
    app.config.update(settings.DEFAULTS)
    if test_config is None:
        load_dotenv(Path.cwd() / ".env")
        app.config.update(settings.from_environment(os.environ))
    else:
        app.config.update(test_config)
    is_development = app.debug or app.testing
    settings.finish(
        app.config, instance_path=Path(app.instance_path), is_development=is_development
    )
    mail_config.finish(app.config, is_development=is_development)

    events.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    csrf.init_app(app)
    mail.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    rate_limits.init_app(app)
    emailcode.init_app(app)
    mail_delivery.init_app(app)
    quiet.init_app(app)

    app.register_blueprint(main_bp)
    app.register_blueprint(access_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(cms_bp)
    if is_development and not app.config.get("MAIL_SERVER"):
        app.register_blueprint(dev_bp)
        app.jinja_env.globals["dev_mailbox"] = True

    handlers.register(app)
    headers.init_app(app, is_development=is_development)
    cli.init_app(app)
    return app
