"""``flask --app campus mail check``: one sentence of cause and fix, in the operator's language."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from flask_babel import gettext as _

from campus.extensions import services
from campus.mail.check import Kind, Problem, Settings, check
from campus.support.addresses import BadAddress, parse_address

group = AppGroup("mail", help="Check the mail settings; print the DKIM record.")


def _messages() -> dict[Kind, str]:
    return {
        Kind.NOT_CONFIGURED: _(
            "MAIL_SERVER is not set, so mail only reaches the development mailbox: set "
            "MAIL_SERVER, MAIL_PORT and MAIL_USE_TLS or MAIL_USE_SSL to your provider's values."
        ),
        Kind.REFUSED: _(
            "Nothing accepts connections at %(host)s:%(port)s: check MAIL_SERVER and MAIL_PORT "
            "(587 with MAIL_USE_TLS, or 465 with MAIL_USE_SSL)."
        ),
        Kind.TIMEOUT: _(
            "%(host)s:%(port)s did not answer within %(seconds)s seconds: check MAIL_SERVER and "
            "MAIL_PORT, and that no firewall stops this machine from reaching it."
        ),
        Kind.UNREACHABLE: _(
            "Could not talk to %(host)s:%(port)s (%(error)s): check MAIL_SERVER and MAIL_PORT."
        ),
        Kind.EXPECTS_SSL: _(
            "Port %(port)s expects TLS from the first byte: set MAIL_USE_SSL=true and "
            "MAIL_USE_TLS=false, or use port 587 with MAIL_USE_TLS=true."
        ),
        Kind.NOT_SSL: _(
            "Port %(port)s starts in plain text, not in TLS: set MAIL_USE_TLS=true and "
            "MAIL_USE_SSL=false (usually port 587), or use port 465 with MAIL_USE_SSL=true."
        ),
        Kind.NO_STARTTLS: _(
            "The server offers no STARTTLS on this port: use your provider's STARTTLS port "
            "(usually 587), or port 465 with MAIL_USE_SSL=true."
        ),
        Kind.TLS_REQUIRED: _(
            "The server wants an encrypted connection first: set MAIL_USE_TLS=true (port 587) "
            "or MAIL_USE_SSL=true (port 465)."
        ),
        Kind.UNTRUSTED: _(
            "The server's certificate is not trusted (%(reason)s): for a private relay, set "
            "MAIL_CA_FILE to the PEM file of the authority that signed it."
        ),
        Kind.WRONG_NAME: _(
            "The server's certificate is not for %(host)s (%(reason)s): set MAIL_SERVER to the "
            "name on the certificate."
        ),
        Kind.TLS_FAILED: _(
            "The TLS handshake failed (%(error)s): check MAIL_PORT and MAIL_USE_TLS or "
            "MAIL_USE_SSL."
        ),
        Kind.AUTH_FAILED: _(
            "The server refused the login (%(code)s): check MAIL_USERNAME and MAIL_PASSWORD; "
            "for QQ, 163 and similar mailboxes MAIL_PASSWORD must be the authorisation code "
            "from the mailbox's settings, not the account password, and SMTP must be enabled "
            "there."
        ),
        Kind.NO_AUTH: _(
            "The server offers no login here: remove MAIL_USERNAME and MAIL_PASSWORD, or use the "
            "port your provider gives for authenticated sending."
        ),
        Kind.SENDER_REFUSED: _(
            "The server refused the sender %(sender)s (%(code)s): set MAIL_DEFAULT_SENDER to the "
            "address you log in with, as most providers require."
        ),
        Kind.RECIPIENT_REFUSED: _(
            "The server refused the recipient %(to)s (%(code)s): check the address given to "
            "--send-to."
        ),
        Kind.REFUSED_MESSAGE: _(
            "The server refused the message (%(code)s): check your provider's sending rules."
        ),
    }


def operator_language() -> str:
    """Chinese when the shell's locale is Chinese, English otherwise."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(name, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def settings_from(config: dict[str, object]) -> Settings:
    return Settings(
        host=str(config.get("MAIL_SERVER") or ""),
        port=int(str(config["MAIL_PORT"])),
        use_tls=bool(config.get("MAIL_USE_TLS")),
        use_ssl=bool(config.get("MAIL_USE_SSL")),
        username=str(config["MAIL_USERNAME"]) if config.get("MAIL_USERNAME") else None,
        password=str(config["MAIL_PASSWORD"]) if config.get("MAIL_PASSWORD") else None,
        sender=str(config.get("MAIL_DEFAULT_SENDER") or ""),
        timeout=float(str(config["MAIL_TIMEOUT"])),
        ca_file=str(config["MAIL_CA_FILE"]) if config.get("MAIL_CA_FILE") else None,
    )


@group.command("check")
@click.option("--send-to", default=None, help="also send one short test message here")
def check_command(send_to: str | None) -> None:
    """Connect with the mail settings, log in, and optionally send a test message."""
    settings = settings_from(dict(current_app.config))
    with force_locale(operator_language()):
        if send_to is not None:
            try:
                send_to = parse_address(send_to).value
            except BadAddress as exc:
                raise click.ClickException(_("--send-to is not a valid address.")) from exc
        try:
            check(settings, send_to=send_to)
        except Problem as problem:
            details = {"host": settings.host, "port": str(settings.port), **problem.details}
            click.echo(str(_messages()[problem.kind]) % details, err=True)
            raise SystemExit(1) from None
        security = "SSL" if settings.use_ssl else ("STARTTLS" if settings.use_tls else _("no TLS"))
        click.echo(
            _(
                "The mail settings work: %(host)s:%(port)s (%(security)s), sender accepted.",
                host=settings.host,
                port=settings.port,
                security=security,
            )
        )
        if send_to:
            click.echo(_("A test message was sent to %(to)s.", to=send_to))


@group.command("dkim-record")
def dkim_record_command() -> None:
    """Print the DNS TXT record that publishes the DKIM key (MAIL_DKIM_*)."""
    signer = services().dkim
    if signer is None:
        raise click.ClickException(
            "DKIM is off: set MAIL_DKIM_DOMAIN, MAIL_DKIM_SELECTOR and MAIL_DKIM_KEY_FILE"
        )
    click.echo(signer.dns_record())
