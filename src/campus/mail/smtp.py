"""An SMTP backend that verifies the server's certificate on every kind of TLS.

Flask-Mailman verifies certificates for implicit TLS (465) but passes no context
to ``starttls()`` on 587, and smtplib then falls back to a context that checks
nothing. This backend hands the same verifying context to both.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import Any

from flask import current_app
from flask_mailman.backends.smtp import EmailBackend
from flask_mailman.utils import DNS_NAME


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store, or only ``ca_file`` when one is configured."""
    context = (
        ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class VerifiedSMTPEmailBackend(EmailBackend):  # type: ignore[misc]
    """Flask-Mailman's SMTP backend with certificate checks on STARTTLS too."""

    connection: smtplib.SMTP | None

    def __init__(self, *args: Any, ca_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ca_file = ca_file or current_app.config.get("MAIL_CA_FILE")

    @property
    def ssl_context(self) -> ssl.SSLContext:
        return tls_context(self.ca_file)

    def open(self) -> bool:
        if self.connection:
            return False
        params: dict[str, Any] = {"local_hostname": DNS_NAME.get_fqdn()}
        if self.timeout is not None:
            params["timeout"] = self.timeout
        if self.use_ssl:
            params["context"] = self.ssl_context
        connection = (smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP)(
            self.host, self.port, **params
        )
        try:
            if self.use_tls:
                connection.starttls(context=self.ssl_context)
            if self.username and self.password:
                connection.login(self.username, self.password)
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return True
