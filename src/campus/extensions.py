"""Extension objects, created unbound and initialised in ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

if TYPE_CHECKING:  # the types of what the layers above build; nothing imported at run time
    import redis
    from limits.storage import Storage

    from campus.mail.outbox import Outbox
    from campus.mail.rendering import Renderer
    from campus.mail.sender import Sender, SendRate
    from campus.mail.signing import Signer
    from campus.mail.statuses import DeliveryLog
    from campus.support.quiet import Quiet
    from flask_emailcode.budgets import Budgets


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
mail = Mail()


@dataclass
class Services:
    """What the app builds at start and its layers share, one typed object per app in
    ``app.extensions["campus"]``, each field set by the layer that owns it."""

    redis: redis.Redis | None = None
    budget_storage: Storage | None = None
    budgets: Budgets | None = None
    quiet: Quiet | None = None
    dkim: Signer | None = None
    renderer: Renderer | None = None
    deliveries: DeliveryLog | None = None
    outbox: Outbox | None = None
    sender: Sender | None = None
    send_rate: SendRate | None = None


def services(app: Flask | None = None) -> Services:
    """The app's services (the current app's by default)."""
    found = (app or current_app).extensions.setdefault("campus", Services())
    if not isinstance(found, Services):
        raise TypeError("app.extensions['campus'] is not the app's Services")
    return found
