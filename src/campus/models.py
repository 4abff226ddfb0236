"""Database models: accounts and their log-in sessions.

The tables other layers own (codes, deliveries, limit hits) are declared beside
the code that uses them, on the same metadata, so migrations see one schema.
"""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campus.extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


# Addresses an account may keep: the primary and two more.
MAX_ADDRESSES = 3


class Role(enum.StrEnum):
    STAFF = "staff"
    # Staff who may also read the delivery log.
    ADMIN = "admin"
    MEMBER = "member"


class Account(db.Model):  # type: ignore[name-defined,misc]
    """A person who can log in. Staff use the CMS; members the forum."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The primary address, repeated from its ``AccountEmail`` row: sessions, notices
    # and the CLI read it; ``AccountEmail`` decides who owns an address.
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    # No default: an account built without saying what it is must not open the CMS.
    role: Mapped[str] = mapped_column(String(16))
    # Part of every session's login id: changing it logs out every session.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    email_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    addresses: Mapped[list[AccountEmail]] = relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="AccountEmail.id"
    )

    # One account per address whatever its case, held by the database itself so
    # that two racing confirmations cannot both win.
    __table_args__ = (Index("uq_accounts_email_lower", func.lower(email), unique=True),)

    # Flask-Login's user protocol.
    is_active = True
    is_anonymous = False
    is_authenticated = True

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def verified_addresses(self) -> list[str]:
        """Every address of the account, the primary first: where security notices go."""
        others = [row.email for row in self.addresses if not row.is_primary]
        return [self.email, *others]

    def has_address(self, email: str) -> bool:
        """Whether ``email`` is one of the account's addresses, whatever its case."""
        return email.lower() in {own.lower() for own in self.verified_addresses}

    @property
    def verification_account(self) -> str:
        """The account name codes are bound to."""
        return f"account:{self.id}"

    def end_all_sessions(self) -> None:
        self.session_token = new_session_token()

    def __repr__(self) -> str:
        return f"<Account {self.id}>"


class AccountEmail(db.Model):  # type: ignore[name-defined,misc]
    """A verified address of an account: its primary one, and up to two more.

    Every address an account can log in or reset with is a row here, the primary
    included (``Account.email`` repeats it). The unique index makes an address
    belong to one account only, whatever its case, even when two requests race.
    """

    __tablename__ = "account_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Which of the account's places the address holds. Unique per account and at
    # most MAX_ADDRESSES, so the database itself keeps the count even when two
    # additions race.
    place: Mapped[int] = mapped_column(default=1)
    account: Mapped[Account] = relationship(back_populates="addresses")

    __table_args__ = (
        Index("uq_account_emails_email_lower", func.lower(email), unique=True),
        UniqueConstraint("account_id", "place", name="uq_account_emails_place"),
        CheckConstraint(f"place BETWEEN 1 AND {MAX_ADDRESSES}", name="ck_account_emails_place"),
    )


class LoginSession(db.Model):  # type: ignore[name-defined,misc]
    """One logged-in browser session, known to the server so that log-out ends it.

    The session cookie is signed, not stored: without this row a copy taken
    before log-out would stay valid until the key changed.
    """

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Seconds since the epoch, on the app's clock.
    expires_at: Mapped[int] = mapped_column(BigInteger)


def find_by_email(email: str) -> Account | None:
    """The account with this verified address (primary or not), whatever its case."""
    found: Account | None = db.session.scalar(
        select(Account)
        .join(AccountEmail, AccountEmail.account_id == Account.id)
        .where(func.lower(AccountEmail.email) == email.lower())
    )
    return found
