"""``flask --app campus redis check``: reach Redis as the app does, and say what to fix."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

from campus.mail.check_cli import operator_language
from campus.settings import uses_redis
from campus.support.redis_check import Kind, Problem, probe

group = AppGroup("redis", help="Check the Redis settings.")


def _remedies() -> dict[Kind, str]:
    return {
        Kind.PASSWORD: _(
            "The %(role)s at %(host)s:%(port)s refused the password: put the right one in "
            "REDIS_URL (redis://:PASSWORD@host, or redis://USER:PASSWORD@host for an ACL "
            "user), or under Sentinel in REDIS_MASTER_PASSWORD and REDIS_SENTINEL_PASSWORD."
        ),
        Kind.UNTRUSTED: _(
            "The certificate of the %(role)s at %(host)s:%(port)s is not trusted: set "
            "REDIS_CA_FILE to the PEM file of the authority that signed it."
        ),
        Kind.WRONG_NAME: _(
            "The certificate of the %(role)s at %(host)s:%(port)s is for another name: reach it "
            "by a name its certificate carries."
        ),
        Kind.EXPECTS_TLS: _(
            "The %(role)s at %(host)s:%(port)s closed a plain-text connection, as a TLS port "
            "does: use rediss:// (or REDIS_SENTINEL_TLS=true)."
        ),
        Kind.NOT_TLS: _(
            "The %(role)s at %(host)s:%(port)s does not speak TLS: use redis:// (or "
            "REDIS_SENTINEL_TLS=false), or its TLS port."
        ),
        Kind.REFUSED: _(
            "Nothing accepts connections at %(host)s:%(port)s: check the host and port of "
            "REDIS_URL or REDIS_SENTINELS."
        ),
        Kind.TIMEOUT: _(
            "The %(role)s at %(host)s:%(port)s did not answer in time: check the address, and "
            "that no firewall stops this machine from reaching it."
        ),
        Kind.NO_MASTER: _(
            "The sentinel at %(host)s:%(port)s knows no master by that name: set "
            "REDIS_SENTINEL_MASTER to the name in its 'sentinel monitor' line."
        ),
        Kind.NOT_WRITABLE: _(
            "The %(role)s at %(host)s:%(port)s refuses writes (%(error)s): it has too few "
            "replicas in reach, or it is no longer the master; see docs/deploy.md."
        ),
        Kind.OTHER: _("The %(role)s at %(host)s:%(port)s could not be used: %(error)s."),
    }


@group.command("check")
def check_command() -> None:
    """Connect to Redis (and its sentinels) with the app's settings and write once."""
    config = current_app.config
    with force_locale(operator_language()):
        if not uses_redis(config):
            click.echo(
                _("Redis is not configured: codes, limits and statuses live in the database.")
            )
            return
        problem: Problem | None = probe(config)
        if problem is not None:
            details = {
                "role": problem.role,
                "host": problem.host,
                "port": problem.port,
                "error": problem.error,
            }
            click.echo(_remedies()[problem.kind] % details, err=True)
            raise SystemExit(1)
        click.echo(_("Redis answers and takes writes: codes, limits and the queue can use it."))
