"""``mail check`` against real aiosmtpd servers set up to fail each way an operator meets."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tests.services import free_port
from tests.smtp_server import PASSWORD, USERNAME, Inbox, LocalCA, make_ca, smtp_server


@pytest.fixture
def database_uri(sqlite_only: str) -> str:
    return sqlite_only


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def run(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str]]:
    """``mail check`` with these mail settings, in the language of ``LANG``."""

    def invoke(
        lang: str = "en_US.UTF-8", send_to: str | None = None, **mail: Any
    ) -> tuple[int, str]:
        monkeypatch.setenv("LANG", lang)
        for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
            monkeypatch.delenv(name, raising=False)
        mail.setdefault("MAIL_TIMEOUT", 2)
        app = make_app(MAIL_SERVER="127.0.0.1", **mail)
        args = ["mail", "check"] + (["--send-to", send_to] if send_to else [])
        result = app.test_cli_runner().invoke(args=args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        return result.exit_code, result.output

    return invoke


def starttls_login(ca: LocalCA, port: int) -> dict[str, Any]:
    """Settings that work against ``smtp_server("starttls", ca)`` on ``port``."""
    return {
        "MAIL_PORT": port,
        "MAIL_USE_TLS": True,
        "MAIL_CA_FILE": str(ca.ca_file),
        "MAIL_USERNAME": USERNAME,
        "MAIL_PASSWORD": PASSWORD,
    }


def one_sentence(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    return lines[0]


def test_a_working_starttls_relay_passes_and_sends_a_test_message(
    run: Callable[..., tuple[int, str]], ca: LocalCA
) -> None:
    with smtp_server("starttls", ca) as (port, inbox):
        code, output = run(send_to="operator@example.com", **starttls_login(ca, port))
    assert code == 0, output
    assert "STARTTLS" in output and "operator@example.com" in output
    assert inbox.logins == [USERNAME]
    (received,) = inbox.received
    assert received.rcpt_tos == ["operator@example.com"]
    assert "mail check" in received.message.get_content()


def test_a_working_implicit_tls_relay_passes(
    run: Callable[..., tuple[int, str]], ca: LocalCA
) -> None:
    with smtp_server("ssl", ca) as (port, inbox):
        code, output = run(MAIL_PORT=port, MAIL_USE_SSL=True, MAIL_CA_FILE=str(ca.ca_file))
    assert code == 0, output
    assert inbox.received == []  # nothing is sent without --send-to


# (server mode, settings, words the sentence must hold); each case is one fault.
def cases(ca: LocalCA) -> dict[str, tuple[str, dict[str, Any], list[str]]]:
    trusted = {"MAIL_CA_FILE": str(ca.ca_file)}
    login = {"MAIL_USERNAME": USERNAME, "MAIL_PASSWORD": PASSWORD}
    return {
        "ssl on a starttls port": (
            "starttls",
            {"MAIL_USE_SSL": True, **trusted, **login},
            ["MAIL_USE_TLS=true", "587"],
        ),
        "starttls on an implicit tls port": (
            "ssl",
            {"MAIL_USE_TLS": True, **trusted},
            ["MAIL_USE_SSL=true"],
        ),
        "neither on a server that requires tls": (
            "starttls",
            {**trusted, **login},
            ["MAIL_USE_TLS=true", "MAIL_USE_SSL=true"],
        ),
        "untrusted certificate": ("ssl", {"MAIL_USE_SSL": True}, ["MAIL_CA_FILE"]),
        "untrusted certificate on starttls": (
            "starttls",
            {"MAIL_USE_TLS": True, **login},
            ["MAIL_CA_FILE"],
        ),
        "wrong password": (
            "starttls",
            {"MAIL_USE_TLS": True, **trusted, "MAIL_USERNAME": USERNAME, "MAIL_PASSWORD": "nope"},
            ["535", "MAIL_PASSWORD", "QQ", "163"],
        ),
    }


CASES = [
    "ssl on a starttls port",
    "starttls on an implicit tls port",
    "neither on a server that requires tls",
    "untrusted certificate",
    "untrusted certificate on starttls",
    "wrong password",
]


@pytest.mark.parametrize("case", CASES)
def test_each_fault_gets_one_sentence_of_cause_and_fix(
    run: Callable[..., tuple[int, str]], ca: LocalCA, case: str
) -> None:
    mode, settings, words = cases(ca)[case]
    with smtp_server(mode, ca) as (port, inbox):
        code, output = run(MAIL_PORT=port, **settings)
    assert code != 0
    sentence = one_sentence(output)
    for word in words:
        assert word in sentence, sentence
    assert inbox.received == []


@pytest.mark.parametrize(
    ("lang", "words"),
    [("zh_CN.UTF-8", ["授权码", "535"]), ("en_US.UTF-8", ["authorisation code", "535"])],
)
def test_the_sentence_follows_lang(
    run: Callable[..., tuple[int, str]], ca: LocalCA, lang: str, words: list[str]
) -> None:
    with smtp_server("starttls", ca) as (port, _inbox):
        code, output = run(lang, **(starttls_login(ca, port) | {"MAIL_PASSWORD": "wrong"}))
    assert code != 0
    sentence = one_sentence(output)
    assert all(word in sentence for word in words), sentence


@pytest.fixture
def wrong_name_server(ca: LocalCA) -> Iterator[int]:
    """Implicit TLS with a certificate for mail.example, reached as 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.ca.issue_cert("mail.example").configure_cert(context)
    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    yield port
    controller.stop()


def test_a_certificate_for_another_name_is_named(
    run: Callable[..., tuple[int, str]], ca: LocalCA, wrong_name_server: int
) -> None:
    code, output = run(MAIL_PORT=wrong_name_server, MAIL_USE_SSL=True, MAIL_CA_FILE=str(ca.ca_file))
    assert code != 0
    sentence = one_sentence(output)
    assert "127.0.0.1" in sentence and "MAIL_SERVER" in sentence


def test_a_refused_connection(run: Callable[..., tuple[int, str]]) -> None:
    code, output = run(MAIL_PORT=free_port(), MAIL_USE_TLS=True)
    assert code != 0
    assert "MAIL_PORT" in one_sentence(output)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers(run: Callable[..., tuple[int, str]], silent_port: int) -> None:
    code, output = run(MAIL_PORT=silent_port, MAIL_TIMEOUT=1)
    assert code != 0
    sentence = one_sentence(output)
    assert "1 seconds" in sentence and "firewall" in sentence


class RefusesSender(Inbox):
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        return "553 5.7.1 Sender address rejected: not owned by user"


def test_a_refused_sender_is_found_without_sending(
    run: Callable[..., tuple[int, str]], ca: LocalCA
) -> None:
    inbox = RefusesSender()
    with smtp_server("starttls", ca, inbox=inbox) as (port, _):
        code, output = run(
            **starttls_login(ca, port),
            MAIL_DEFAULT_SENDER="Campus <someone-else@campus.example>",
        )
    assert code != 0
    sentence = one_sentence(output)
    assert "someone-else@campus.example" in sentence and "MAIL_DEFAULT_SENDER" in sentence
    assert "553" in sentence


def test_no_server_configured(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    result = app.test_cli_runner().invoke(args=["mail", "check"])
    assert result.exit_code != 0
    assert "MAIL_SERVER" in one_sentence(result.output)
