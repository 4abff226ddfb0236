"""``flask --app campus user ...``: managing accounts from the shell."""

from __future__ import annotations

import secrets

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import func, select

from campus.extensions import db
from campus.flows.accounts import create_account
from campus.flows.errors import FlowError
from campus.flows.passwords import change_password
from campus.mail.check_cli import group as mail_commands
from campus.models import Account, Role, find_by_email
from campus.redis_check_cli import group as redis_commands
from campus.support.addresses import BadAddress

user = AppGroup("user", help="Manage accounts.")


@user.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin", is_flag=True, help="also allow the delivery log (/cms/deliveries)")
def create(email: str, password: str, admin: bool) -> None:
    """Create a staff account that can log in to the CMS."""
    try:
        account = create_account(email, password, role=Role.ADMIN if admin else Role.STAFF)
    except (FlowError, BadAddress) as exc:
        raise click.ClickException(str(exc)) from exc
    kind = "administrator" if admin else "staff"
    click.echo(f"Created {kind} account {account.id}: {account.email}")


@user.command("admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="take the right away again")
def admin(email: str, revoke: bool) -> None:
    """Allow an existing staff account the delivery log, or (--revoke) no longer."""
    account = find_by_email(email)
    if account is None or not account.is_staff:
        raise click.ClickException(f"no staff account has the address {email}")
    account.role = Role.STAFF if revoke else Role.ADMIN
    db.session.commit()
    click.echo(f"Account {account.id} is {'staff' if revoke else 'an administrator'}.")


@user.command("password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def password(email: str, password: str) -> None:
    """Set an account's password; its sessions and outstanding codes end."""
    account = find_by_email(email)
    if account is None:
        raise click.ClickException(f"no account has the address {email}")
    try:
        change_password(account, password)
    except FlowError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Password changed for account {account.id}; its sessions were logged out.")


@user.command("bootstrap")
@click.option("--email", default="admin@campus.example", show_default=True)
def bootstrap(email: str) -> None:
    """On an empty database, create a first staff account and print its password."""
    if db.session.scalar(select(func.count()).select_from(Account)):
        return
    password = secrets.token_urlsafe(12)
    account = create_account(email, password, role=Role.STAFF)
    click.echo("")
    click.echo("  First start: a CMS account was created for you.")
    click.echo(f"    email:    {account.email}")
    click.echo(f"    password: {password}")
    click.echo("  Log in at http://127.0.0.1:5000/cms/login")
    click.echo("")


def init_app(app: Flask) -> None:
    app.cli.add_command(user)
    app.cli.add_command(mail_commands)
    app.cli.add_command(redis_commands)
