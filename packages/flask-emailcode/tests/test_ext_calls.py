"""send, verify, withdraw, revoke, status and send_quietly, through a real app."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request

from _helpers import Clock, make_app
from flask_emailcode import (
    CodeMail,
    CodeRefused,
    EmailCode,
    Locked,
    MailUnavailable,
    Outcome,
    TooSoon,
)
from flask_emailcode.testing import wrong_code


def app_with_routes(emailcode: EmailCode, **config: Any) -> Flask:
    app = make_app(**config)
    emailcode.init_app(app)

    @app.post("/code")
    def code() -> Any:
        return emailcode.send("change_email", to=request.form["email"], account="42").as_dict()

    @app.post("/check")
    def check() -> Any:
        emailcode.verify(
            "change_email", address=request.form["email"], code=request.form["code"], account="42"
        )
        return jsonify(ok=True)

    return app


def test_a_sent_code_verifies_once_typed_any_way(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    app = app_with_routes(emailcode)
    client = app.test_client()
    with app.app_context(), emailcode.capture() as outbox:
        answer = client.post("/code", data={"email": "New@Example.com"})
        assert answer.status_code == 200
        assert set(answer.json) == {"resend_after", "expires_in", "delivery", "earlier"}
        assert (answer.json["resend_after"], answer.json["expires_in"]) == (60, 600)
        code = outbox[-1].code
        typed = f" {code[:3].lower()}-{code[3:]} "
        assert client.post("/check", data={"email": "new@example.com", "code": typed}).json == {
            "ok": True
        }
        again = client.post("/check", data={"email": "new@example.com", "code": code})
        assert (again.status_code, again.json["data"]["outcome"]) == (400, "used_up")


def test_a_wrong_code_counts_down_then_burns(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    app = app_with_routes(emailcode)
    client = app.test_client()
    with app.app_context(), emailcode.capture() as outbox:
        client.post("/code", data={"email": "a@example.com"})
        bad = wrong_code(outbox[-1].code)
        lefts = [
            client.post("/check", data={"email": "a@example.com", "code": bad}).json["data"][
                "attempts_left"
            ]
            for _ in range(5)
        ]
        assert lefts == [4, 3, 2, 1, 0]
        with pytest.raises(CodeRefused) as refused:
            emailcode.verify(
                "change_email", address="a@example.com", code=outbox[-1].code, account="42"
            )
        assert refused.value.outcome is Outcome.USED_UP


def test_a_resend_inside_the_cooldown_is_429_with_retry_after(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    app = app_with_routes(emailcode)
    client = app.test_client()
    with app.app_context(), emailcode.capture() as outbox:
        client.post("/code", data={"email": "a@example.com"})
        clock.advance(20)
        refused = client.post("/code", data={"email": "a@example.com"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "40" == str(refused.json["data"]["retry_after"])
        assert len(outbox) == 1
        clock.advance(40)
        again = client.post("/code", data={"email": "a@example.com"})
        # The first code stays alive beside the second, under one attempt count.
        assert again.json["earlier"] == 1
        first = outbox[0].code
        assert emailcode.verify("change_email", address="a@example.com", code=first, account="42")


def test_the_default_handlers_can_be_turned_off() -> None:
    emailcode = EmailCode()
    app = app_with_routes(emailcode, EMAILCODE_REGISTER_ERRORHANDLERS=False)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    with app.app_context(), emailcode.capture():
        client.post("/code", data={"email": "a@example.com"})
        answer = client.post("/code", data={"email": "a@example.com"})
    assert answer.status_code == 500  # nobody answers TooSoon now but the app


def test_a_bad_address_is_400_and_sends_nothing() -> None:
    emailcode = EmailCode()
    app = app_with_routes(emailcode)
    with app.app_context(), emailcode.capture() as outbox:
        answer = app.test_client().post("/code", data={"email": "a@b@c\r\nBcc: x@y.com"})
    assert (answer.status_code, answer.json["data"]["reason"]) == (400, "invalid")
    assert outbox == []


def test_per_purpose_lifetimes(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    emailcode.purpose("reset_password", ttl=600)
    app = make_app(EMAILCODE_PURPOSES={"sign_up": {"ttl": 3600}})
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        assert emailcode.send("sign_up", to="a@example.com").expires_in == 3600
        assert emailcode.send("reset_password", to="a@example.com").expires_in == 600
        sign_up, reset = (mail.code for mail in outbox)
        clock.advance(601)
        with pytest.raises(CodeRefused) as late:
            emailcode.verify("reset_password", address="a@example.com", code=reset)
        assert late.value.outcome is Outcome.EXPIRED
        assert emailcode.verify("sign_up", address="a@example.com", code=sign_up).account is None


def test_a_code_for_one_purpose_or_account_is_worthless_for_another() -> None:
    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("change_email", to="a@example.com", account="42")
        code = outbox[-1].code
        for purpose, account in (("add_email", "42"), ("change_email", "43"), ("sign_up", None)):
            with pytest.raises(CodeRefused):
                emailcode.verify(purpose, address="a@example.com", code=code, account=account)


def test_a_failing_sender_withdraws_the_code_and_answers_503() -> None:
    emailcode = EmailCode()
    app = app_with_routes(emailcode)
    seen: list[CodeMail] = []

    @emailcode.sender
    def broken(mail: CodeMail) -> None:
        seen.append(mail)
        raise ConnectionRefusedError("smtp down")

    client = app.test_client()
    answer = client.post("/code", data={"email": "a@example.com"})
    assert answer.status_code == 503
    with app.app_context():
        with pytest.raises(CodeRefused):
            emailcode.verify(
                "change_email", address="a@example.com", code=seen[0].code, account="42"
            )
        # Withdrawn with its cooldown: a new code may be asked for at once.
        with pytest.raises(MailUnavailable), app.test_request_context():
            emailcode.send("change_email", to="a@example.com", account="42")


def test_a_queued_mail_reported_failed_is_withdrawn_and_signalled() -> None:
    from flask_emailcode.signals import delivery_failed

    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    queue: list[CodeMail] = []
    emailcode.sender(lambda mail: queue.append(mail) or "queued")
    failures: list[dict[str, Any]] = []
    delivery_failed.connect(lambda sender, **kw: failures.append(kw), app, weak=False)
    with app.test_request_context():
        sent = emailcode.send("change_email", to="a@example.com", account="42")
        assert emailcode.status(sent.delivery, account="42") == "queued"
        assert emailcode.status(sent.delivery, account="43") is None
        assert emailcode.status(sent.delivery) is None
        emailcode.report(queue[0], "bounced", reason="5.1.1")
        assert emailcode.status(sent.delivery, account="42") == "bounced"
        with pytest.raises(CodeRefused):
            emailcode.verify(
                "change_email", address="a@example.com", code=queue[0].code, account="42"
            )
    assert failures == [{"delivery": sent.delivery, "permanent": True, "reason": "5.1.1"}]


def test_revoke_voids_an_accounts_codes_and_its_addresses_codes() -> None:
    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("change_email", to="new@example.com", account="42")
        emailcode.send("reset_password", to="old@example.com")
        emailcode.send("reset_password", to="someone@example.com")
        assert emailcode.revoke(account="42", addresses=["old@example.com"]) == 2
        for mail, account in zip(outbox[:2], ("42", None), strict=True):
            with pytest.raises(CodeRefused):
                emailcode.verify(mail.purpose, address=mail.to, code=mail.code, account=account)
        assert emailcode.verify(
            "reset_password", address="someone@example.com", code=outbox[2].code
        )


def test_the_failure_cap_locks_with_429(clock: Clock) -> None:
    emailcode = EmailCode(clock=clock)
    app = make_app(EMAILCODE_FAILURE_CAP=5, EMAILCODE_RESEND_COOLDOWN=0)
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("log_in", to="a@example.com")
        for _ in range(5):
            with pytest.raises(CodeRefused):
                emailcode.verify("log_in", address="a@example.com", code=wrong_code(outbox[0].code))
        with pytest.raises(Locked) as locked:
            emailcode.send("log_in", to="a@example.com")
    assert locked.value.retry_after > 80000
    assert isinstance(locked.value, TooSoon)


def test_send_quietly_answers_alike_and_mails_only_a_holder_after_the_answer() -> None:
    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    holders = {"known@example.com"}
    notices: list[str] = []
    order: list[str] = []
    deliveries: list[str] = []

    @app.post("/reset")
    def reset() -> Any:
        sent = emailcode.send_quietly(
            "reset_password",
            to=request.form["email"],
            mail_if=lambda address: order.append("decided") or address.value in holders,
            otherwise=lambda address: notices.append(address.value),
        )
        order.append("answered")
        deliveries.append(sent.delivery)
        return {"resend_after": sent.resend_after, "expires_in": sent.expires_in}

    client = app.test_client()
    with app.app_context(), emailcode.capture() as outbox:
        answers = []
        for _ in range(2):  # the second pair inside the cooldown
            for email in ("known@example.com", "nobody@example.com"):
                answers.append(client.post("/reset", data={"email": email}))
                emailcode.settle()
        assert len({(a.status_code, a.get_data()) for a in answers}) == 1
        assert order == ["answered", "decided"] * 4
        # One code mailed; the unknown address got its notice once, as a code would go.
        assert [mail.to for mail in outbox] == ["known@example.com"]
        assert notices == ["nobody@example.com"]
        # The answer's delivery is the mail's, and reads alike for an unknown address.
        assert outbox[0].delivery == deliveries[0]
        assert [emailcode.status(d) for d in deliveries[:2]] == ["sent", "sent"]
        # The unmailed code answers guesses as a real one: a wrong code counts.
        with pytest.raises(CodeRefused) as guessed:
            emailcode.verify("reset_password", address="nobody@example.com", code="ABCDEF")
        assert guessed.value.outcome is Outcome.WRONG


def test_a_holder_files_the_codes_failures_under_its_account(clock: Clock) -> None:
    from flask_emailcode import Holder, Locked

    emailcode = EmailCode(clock=clock)
    app = make_app(EMAILCODE_FAILURE_CAP=5, EMAILCODE_RESEND_COOLDOWN=0)
    emailcode.init_app(app)
    # Outside a request the work is handed over at once, not at the request's end.
    with app.app_context(), emailcode.capture() as outbox:
        for to in ("one@example.com", "two@example.com"):
            emailcode.send_quietly("log_in", to=to, mail_if=lambda a: Holder(counted_as="7"))
            emailcode.settle()
        for _ in range(5):
            with pytest.raises(CodeRefused):
                emailcode.verify(
                    "log_in", address="one@example.com", code=wrong_code(outbox[0].code),
                    counted_as="7",
                )  # fmt: skip
        # The account's cap is spent for its other address too.
        with pytest.raises(Locked):
            emailcode.verify(
                "log_in", address="two@example.com", code=outbox[1].code, counted_as="7"
            )


def test_withdraw_code_voids_a_code_known_by_its_parts() -> None:
    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("add_email", to="a@example.com", account="9", counted_as="9x")
        mail = outbox[0]
        assert emailcode.withdraw_code(
            "add_email", address=mail.to, code=mail.code, account="9", counted_as="9x"
        )
        with pytest.raises(CodeRefused):
            emailcode.verify("add_email", address=mail.to, code=mail.code, account="9")


def test_capture_works_only_in_testing() -> None:
    emailcode = EmailCode()
    app = make_app()
    emailcode.init_app(app)
    app.testing = False
    with app.app_context(), pytest.raises(RuntimeError, match="testing"), emailcode.capture():
        pass


def test_signals_carry_no_code_or_digest() -> None:
    from flask_emailcode import signals

    emailcode = EmailCode()
    app = make_app(EMAILCODE_RESEND_COOLDOWN=0)
    emailcode.init_app(app)
    seen: list[tuple[str, dict[str, Any]]] = []
    names = ["code_issued", "code_verified", "code_refused", "code_limited", "code_withdrawn"]
    for name in names:
        getattr(signals, name).connect(
            lambda sender, _name=name, **kw: seen.append((_name, kw)), app, weak=False
        )
    with app.test_request_context(), emailcode.capture() as outbox:
        emailcode.send("sign_up", to="a@example.com")
        code = outbox[-1].code
        with pytest.raises(CodeRefused):
            emailcode.verify("sign_up", address="a@example.com", code=wrong_code(code))
        emailcode.verify("sign_up", address="a@example.com", code=code)
    assert [name for name, _ in seen] == ["code_issued", "code_refused", "code_verified"]
    text = repr(seen)
    assert code not in text
    assert seen[0][1]["address"].value == "a@example.com"
