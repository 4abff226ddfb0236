"""``EmailCode``: the extension object, and each app's state in ``app.extensions["emailcode"]``.

The object holds only what was declared on it (hooks, purposes); everything
built from an app's config lives in that app's ``State``, so one object serves
any number of apps, as Flask's extensions do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, g, has_request_context, request

from flask_emailcode import signals
from flask_emailcode.addresses import Address, BadAddress, parse_address
from flask_emailcode.budgets import Budget, Budgets
from flask_emailcode.core import CooldownActive, Outcome, Policy, TooManyFailures, Verifier
from flask_emailcode.core import StoreUnavailable as EngineStoreUnavailable
from flask_emailcode.errors import (
    AddressRefused,
    CodeRefused,
    EmailCodeError,
    Locked,
    MailUnavailable,
    StoreUnavailable,
    TooSoon,
)
from flask_emailcode.mail import CodeMail, Sender, default_sender
from flask_emailcode.purposes import Purpose, build
from flask_emailcode.quiet import Quiet
from flask_emailcode.results import Proof, Sent
from flask_emailcode.settings import DEFAULTS, ConfigError, check, flag
from flask_emailcode.storage import Backend, backend_for, memory_backend
from flask_emailcode.writing import request_locale, supported, write

F = TypeVar("F", bound=Callable[..., Any])

# Slots keyed by an address alone (sign-up, reset, log-in) are filed under this prefix
# and a keyed name of the mailbox, the same whether or not an account has it.
BY_ADDRESS = "addr:"
_FAILED = ("failed", "bounced", "complained")


@dataclass(frozen=True)
class Holder:
    """Who holds an address, as ``send_quietly``'s ``mail_if`` may say: the account its
    codes' failures count for (so every address of one account shares one cap), and
    whether the asker is that account's owner (past the ceiling all clients share)."""

    counted_as: str | None = None
    trusted: bool = False


@dataclass
class State:
    """What ``init_app`` built for one app."""

    extension: EmailCode
    key: bytes
    backend: Backend
    budgets: Budgets
    purposes: dict[str, Purpose]
    # None: the app's mail extension, looked up when a mail goes (Mail(app) may come later).
    sender: Sender | None
    clock: Callable[[], float]
    verifiers: dict[str, Verifier] = field(default_factory=dict)
    outboxes: list[list[CodeMail]] = field(default_factory=list)
    quiet: Quiet = field(default_factory=lambda: Quiet())


class EmailCode:
    """Emailed verification codes for a Flask app.

    ``EmailCode(app)``, or ``EmailCode()`` then ``init_app(app)``. Keyword
    arguments are hooks that override the config: ``sender`` (a callable taking a
    ``CodeMail``), ``client_key`` (who is asking, as an opaque tag), ``address_holder``
    (whether an account holds an address, for ``send_quietly``), ``clock``
    (seconds since the epoch), ``storage`` (a ready ``Backend``, or a callable building
    one from each app).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        sender: Sender | None = None,
        client_key: Callable[[], str] | None = None,
        address_holder: Callable[[Address], bool] | None = None,
        clock: Callable[[], float] | None = None,
        storage: Backend | Callable[[Flask], Backend] | None = None,
    ) -> None:
        self._sender = sender
        self._client_key = client_key
        self._address_holder = address_holder
        self._clock = clock
        self._storage = storage
        self._purposes: dict[str, dict[str, Any]] = {}
        if app is not None:
            self.init_app(app)

    # -- set-up ---------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        if "emailcode" in app.extensions:
            raise RuntimeError("Flask-EmailCode is already initialised on this app")
        for name, default in DEFAULTS.items():
            app.config.setdefault(name, default)
        check(app.config)
        app.extensions["emailcode"] = self._build(app)
        app.teardown_request(_submit_after_the_answer)
        # Templates only: the app's own folder comes first, so it overrides any mail.
        app.register_blueprint(Blueprint("emailcode", __name__, template_folder="templates"))
        if flag(app.config, "EMAILCODE_REGISTER_ERRORHANDLERS"):
            from flask_emailcode.handlers import register

            register(app)

    def _build(self, app: Flask) -> State:
        config = app.config
        secret = config["EMAILCODE_SECRET_KEY"] or config.get("SECRET_KEY")
        if not secret:
            raise ConfigError("Flask-EmailCode needs SECRET_KEY (or EMAILCODE_SECRET_KEY)")
        key = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
        if len(key) < 16:
            raise ConfigError("EMAILCODE_SECRET_KEY (or SECRET_KEY) must hold at least 16 bytes")
        if callable(self._storage):
            backend = self._storage(app)  # one backend per app, built from its config
        else:
            backend = self._storage or self._backend(app)
        overrides = {**config["EMAILCODE_PURPOSES"]}
        for name, declared in self._purposes.items():
            overrides[name] = {**overrides.get(name, {}), **declared}
        clock = self._clock or config["EMAILCODE_CLOCK"] or time.time
        return State(
            extension=self,
            key=key,
            backend=backend,
            budgets=Budgets(
                backend.limits,
                prefix=str(config["EMAILCODE_KEY_PREFIX"]),
                enabled=flag(config, "EMAILCODE_RATELIMIT_ENABLED"),
                clock=clock,
            ),
            purposes={name: build(name, config, values) for name, values in overrides.items()},
            sender=self._sender or _configured_sender(app),
            clock=clock,
        )

    def _backend(self, app: Flask) -> Backend:
        uri = app.config["EMAILCODE_STORAGE_URI"]
        if not uri:
            uri = "sqlalchemy://" if "sqlalchemy" in app.extensions else "memory://"
        if uri == "memory://":
            if not (app.debug or app.testing):
                raise ConfigError(
                    "EMAILCODE_STORAGE_URI is memory:// (the default without Flask-SQLAlchemy), "
                    "which one process alone sees: set it to an SQL or Redis URL outside "
                    "debug and testing"
                )
            return memory_backend()
        return backend_for(
            uri,
            options=app.config["EMAILCODE_STORAGE_OPTIONS"],
            prefix=str(app.config["EMAILCODE_KEY_PREFIX"]),
            app=app,
        )

    # -- hooks (decorators) ---------------------------------------------------------------

    def sender(self, fn: F) -> F:
        """Register the callable every code mail goes to (a queue, an HTTP provider...).

        It takes a ``CodeMail``; it returns ``"queued"`` when delivery finishes later
        (then ``report`` says how it ended), anything else when it sent the mail.
        """
        self._sender = fn
        return fn

    def client_key(self, fn: F) -> F:
        """Register who is asking, as an opaque tag (``[A-Za-z0-9_.-]``, at most 64)."""
        self._client_key = fn
        return fn

    def address_holder(self, fn: F) -> F:
        """Register whether an account holds an address (``send_quietly``'s default)."""
        self._address_holder = fn
        return fn

    def purpose(self, name: str, **overrides: Any) -> None:
        """Give a purpose its own rules: ``ttl``, ``length``, ``max_attempts``,
        ``resend_cooldown``, ``live_codes``, ``code_in_subject``, ``subject``, ``template``.
        Declared before ``init_app``."""
        self._purposes[name] = overrides

    # -- the calls ------------------------------------------------------------------------

    def send(
        self,
        purpose: str,
        *,
        to: str,
        account: str | None = None,
        client: str | None = None,
        counted_as: str | None = None,
        trusted: bool = False,
        mailbox_budget: bool = True,
        count_request: bool = True,
    ) -> Sent:
        """Issue a code for ``purpose`` and mail it to ``to``.

        ``account=None`` keys the code by the address alone (sign-up, reset, log-in).
        Raises ``TooSoon`` (cooldown or a budget), ``Locked`` (the failure cap),
        ``AddressRefused``, ``StoreUnavailable`` or ``MailUnavailable``; if the mail
        cannot go, the code does not stay valid. ``counted_as`` files the failures
        under another account (all addresses of one account share one cap);
        ``trusted`` lifts the ceiling all clients share (the owner's own browser);
        ``mailbox_budget=False`` spends no share of the mailbox's budget (the request
        already proved a password, so strangers must not be able to stop it);
        ``count_request=False`` when the app counted this request's client and account
        budgets itself, before the view.
        """
        return self._send(
            purpose,
            _address(to),
            account,
            self._client(client),
            Holder(counted_as=counted_as, trusted=trusted),
            mailbox_budget=mailbox_budget,
            count_request=count_request,
        )

    def _send(
        self,
        purpose: str,
        address: Address,
        account: str | None,
        client: str,
        counting: Holder,
        *,
        mailbox_budget: bool = True,
        count_request: bool = True,
        locale: str | None = None,
        delivery: str | None = None,
    ) -> Sent:
        slot = self._slot_account(address, account)
        counted_as = counting.counted_as
        self._sender_now()  # a missing mail extension is the app's error: before anything
        if count_request:
            self._take_request_budgets(client, account)
        issued = self._issue(
            purpose, address, slot, client, counted_as, counting.trusted,
            mailbox_budget=mailbox_budget,
        )  # fmt: skip
        delivery = delivery or _delivery_id()
        mail = self._write(
            purpose, address, issued.code, issued.expires_in, delivery, account, locale,
            counted_as=counted_as,
        )  # fmt: skip
        try:
            self._deliver(mail, owner=account)
        except Exception as exc:
            self._void(purpose, address, slot, issued.code, counted_as, delivery)
            if isinstance(exc, EmailCodeError):
                raise
            raise MailUnavailable(f"mail: {type(exc).__name__}") from exc
        signals.code_issued.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            purpose=purpose,
            account=account,
            address=address,
            delivery=delivery,
            earlier=issued.earlier,
        )
        return Sent(issued.resend_after, issued.expires_in, delivery, issued.earlier)

    def send_quietly(
        self,
        purpose: str,
        *,
        to: str,
        mail_if: Callable[[Address], Holder | bool | None] | None = None,
        otherwise: Callable[[Address], Any] | None = None,
        client: str | None = None,
    ) -> Sent:
        """Answer the same whether or not an account holds ``to``, and do the work after
        the answer: look the address up (``mail_if``, by default the ``address_holder``
        hook), then mail a code if it is held, or else issue one that is never mailed
        (``hold``) and call ``otherwise(address)`` (a notice of the app's, say).

        Neither the answer nor its timing tells a stranger anything: the answer is
        the policy's (``resend_after``, ``expires_in``), and a code refused by its
        cooldown or a budget is simply not sent. ``mail_if`` may return a ``Holder``
        to file the code's failures under the holder's account (``counted_as``).
        """
        decide = mail_if or self._address_holder
        if decide is None:
            raise RuntimeError("send_quietly needs mail_if= or an @emailcode.address_holder")
        address = _address(to)
        client = self._client(client)
        locale = self._locale()
        # The answer's delivery is the mail's, and reads the same whether or not one went.
        delivery = _delivery_id()
        app = current_app._get_current_object()  # type: ignore[attr-defined]

        def afterwards() -> None:
            with app.app_context():
                held = decide(address)
                counting = held if isinstance(held, Holder) else Holder()
                try:
                    if held:
                        self._send(
                            purpose, address, None, client, counting, locale=locale,
                            delivery=delivery,
                        )  # fmt: skip
                        return
                    unsent = self.hold(purpose, to=address.value, client=client)
                    self._record(delivery, "sent", owner=None, ttl=unsent.expires_in)
                except TooSoon:
                    return  # signalled as code_limited; the answer already said the same
                if otherwise is not None:
                    otherwise(address)

        if has_request_context():
            # Submitted once the view has answered (teardown), so no part of the work can
            # run before the answer is decided.
            g.setdefault("_emailcode_after_the_answer", []).append(afterwards)
        else:
            _state().quiet.submit(afterwards)
        policy = self._verifier(purpose).policy
        return Sent(policy.resend_cooldown, policy.ttl, delivery)

    def hold(
        self,
        purpose: str,
        *,
        to: str,
        account: str | None = None,
        client: str | None = None,
        counted_as: str | None = None,
        count_request: bool = True,
    ) -> Sent:
        """Issue a code that is never mailed, so that the slot behaves as if one had been:
        the same cooldown, budgets, answers to guesses and count of earlier codes. For
        where mailing would tell a stranger whether an account holds the address.
        Raises exactly where ``send`` would."""
        address = _address(to)
        slot = self._slot_account(address, account)
        client = self._client(client)
        if count_request:
            self._take_request_budgets(client, account)
        issued = self._issue(purpose, address, slot, client, counted_as, False)
        return Sent(issued.resend_after, issued.expires_in, _delivery_id(), issued.earlier)

    def verify(
        self,
        purpose: str,
        *,
        address: str,
        code: str,
        account: str | None = None,
        client: str | None = None,
        counted_as: str | None = None,
        trusted: bool = False,
        count_request: bool = True,
    ) -> Proof:
        """Check a typed code and, if right, spend it in the same atomic step.

        Raises ``CodeRefused`` (``outcome``, ``attempts_left``) for a wrong, expired or
        spent code, ``Locked`` past the failure cap, ``TooSoon`` past the checking budget
        (``count_request=False`` where the app counted it before the view).
        """
        found = _address(address)
        slot = self._slot_account(found, account)
        client = self._client(client)
        if count_request:
            checks = self._budget("checks", "EMAILCODE_VERIFY_LIMIT_PER_IP", client)
            _state().budgets.spend([checks])
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            verdict = self._verifier(purpose).verify(
                purpose=purpose,
                account=slot,
                address=found.mailbox,
                code=code,
                client=client,
                counted_as=counted_as,
                trusted=trusted,
            )
        except TooManyFailures as capped:
            signals.code_limited.send(
                app, purpose=purpose, account=account, address=found,
                scope="failure_cap", retry_after=capped.retry_after,
            )  # fmt: skip
            raise Locked(capped.retry_after) from None
        except EngineStoreUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        if not verdict.is_ok:
            signals.code_refused.send(
                app, purpose=purpose, account=account, address=found,
                outcome=verdict.outcome, attempts_left=verdict.attempts_left,
            )  # fmt: skip
            raise CodeRefused(verdict.outcome, verdict.attempts_left)
        signals.code_verified.send(app, purpose=purpose, account=account, address=found)
        return Proof(purpose=purpose, address=found.value, account=account)

    def withdraw(self, mail: CodeMail) -> bool:
        """Void the code a mail carried (it could not be delivered); others stay valid."""
        address = parse_address(mail.to)
        return self._void(
            mail.purpose,
            address,
            self._slot_account(address, mail.account),
            mail.code,
            mail.counted_as,
            mail.delivery,
        )

    def withdraw_code(
        self,
        purpose: str,
        *,
        address: str,
        code: str,
        account: str | None = None,
        counted_as: str | None = None,
    ) -> bool:
        """Void one code known by its parts, for a sender that kept them rather than the
        ``CodeMail`` (a worker in another process); the slot's other codes stay valid."""
        found = _address(address)
        slot = self._slot_account(found, account)
        return self._void(purpose, found, slot, code, counted_as, "")

    def report(
        self, mail: CodeMail, status: str, *, permanent: bool = True, reason: str = ""
    ) -> None:
        """A sender that finishes later says how a delivery ended: ``sent``, or ``failed``
        (``bounced``, ``complained``), which withdraws the code and signals
        ``delivery_failed``."""
        self._record(mail.delivery, status, owner=mail.account, ttl=mail.expires_in)
        if status in _FAILED:
            self.withdraw(mail)
            self._report_failure(mail.delivery, permanent=permanent, reason=reason)

    def status(self, delivery: str, *, account: str | None = None) -> str | None:
        """``queued``, ``sent`` or a failure, for the account (or address-keyed request)
        that asked; None for an unknown delivery or someone else's."""
        statuses = _state().backend.statuses
        if statuses is None:
            raise RuntimeError("this app's storage keeps no delivery statuses (statuses=None)")
        found = statuses.get(delivery, now=_state().clock())
        if found is None or not hmac.compare_digest(found[1], self.keyed("owner", account or "")):
            return None
        return found[0]

    def revoke(self, *, account: str, addresses: Iterable[str] = ()) -> int:
        """Void every outstanding code of ``account``, and of the address-keyed requests
        (reset, log-in) of each of ``addresses``; returns how many."""
        state = _state()
        verifier = next(iter(state.verifiers.values()), None) or self._verifier("any")
        with _store_errors():
            total = verifier.revoke_account(account)
            for value in set(addresses):
                total += verifier.revoke_account(self._slot_account(parse_address(value), None))
        return total

    def policy(self, purpose: str) -> Policy:
        """The rules a purpose's codes live by (``ttl``, ``resend_cooldown``, ...)."""
        return self._verifier(purpose).policy

    # -- budgets any app may use ----------------------------------------------------------

    def budget(self, scope: str, limit: str, key: str) -> Budget:
        """A budget of the app's own, in the extension's storage: ``limit`` in ``limits``
        notation, ``key`` hashed here so the storage names no one."""
        return Budget(scope, limit, self.keyed(f"budget.{scope}", key))

    def spend(self, *take: Budget, check: Iterable[Budget] = ()) -> None:
        """Count one against each budget, all or nothing; raise ``TooSoon`` if any is spent."""
        _state().budgets.spend(list(take), list(check))

    def keyed(self, label: str, value: str, *, length: int = 32) -> str:
        """``HMAC-SHA256(key, "<label>|<value>")``: a name for a store that names no one."""
        message = f"{label}|{value}".encode()
        return hmac.new(_state().key, message, hashlib.sha256).hexdigest()[:length]

    def subkey(self, label: str) -> bytes:
        """32 bytes derived from the extension's key for one use (the queue's sealing key,
        say), so that key opens nothing else. A NUL ends the label, which no keyed name
        holds, so no subkey equals a digest of ``keyed``."""
        message = f"subkey\x00{label}\x00".encode()
        return hmac.new(_state().key, message, hashlib.sha256).digest()

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the code store answers."""
        try:
            _state().backend.codes.ping()
        except EngineStoreUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc

    # -- testing ---------------------------------------------------------------------------

    def settle(self, timeout: float = 30) -> None:
        """Wait until the work ``send_quietly`` left for after the answer is done (tests,
        shutdown)."""
        _state().quiet.wait(timeout)

    @contextmanager
    def capture(self) -> Iterator[list[CodeMail]]:
        """``with emailcode.capture() as outbox:``: the code mails sent meanwhile, codes
        readable, instead of being sent. Only while ``app.testing`` is set."""
        if not current_app.testing:
            raise RuntimeError("emailcode.capture() works only when app.testing is set")
        outbox: list[CodeMail] = []
        state = _state()
        state.outboxes.append(outbox)
        try:
            yield outbox
        finally:
            state.outboxes.remove(outbox)

    # -- inside ----------------------------------------------------------------------------

    def _verifier(self, purpose: str) -> Verifier:
        state = _state()
        if purpose not in state.verifiers:
            rules = state.purposes.get(purpose) or build(purpose, current_app.config, {})
            state.purposes.setdefault(purpose, rules)
            state.verifiers[purpose] = Verifier(
                policy=rules.policy, store=state.backend.codes, secret_key=state.key,
                clock=state.clock,
            )  # fmt: skip
        return state.verifiers[purpose]

    def _slot_account(self, address: Address, account: str | None) -> str:
        if account is None:
            return f"{BY_ADDRESS}{self.keyed('address', address.mailbox)}"
        return account

    def _client(self, client: str | None) -> str:
        if client is not None:
            return client
        if self._client_key is not None:
            return self._client_key()
        if has_request_context():
            return self.keyed("client", request.remote_addr or "")
        return ""

    def _budget(self, scope: str, setting: str, key: str) -> Budget:
        return Budget(scope, str(current_app.config[setting]), self.keyed(f"limit.{scope}", key))

    def _take_request_budgets(self, client: str, account: str | None) -> None:
        """Every request for a code counts, sent or not: per client and per account."""
        budgets = [self._budget("per_client", "EMAILCODE_LIMIT_PER_IP", client)]
        if account is not None:
            budgets.append(self._budget("per_account", "EMAILCODE_LIMIT_PER_ACCOUNT", account))
        self._spend_or_signal(budgets, None)

    def _spend_or_signal(self, budgets: list[Budget], address: Address | None) -> None:
        try:
            _state().budgets.spend(budgets)
        except TooSoon as limited:
            signals.code_limited.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                purpose=None, account=None, address=address,
                scope=limited.scope, retry_after=limited.retry_after,
            )  # fmt: skip
            raise

    def _issue(
        self,
        purpose: str,
        address: Address,
        slot: str,
        client: str,
        counted_as: str | None,
        trusted: bool,
        *,
        mailbox_budget: bool = True,
    ) -> Any:
        """Issue a code, then spend the mailbox's and the global budget; on any refusal,
        nothing stays. The cooldown is checked first (a refused code spends no budget)."""
        verifier = self._verifier(purpose)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            issued = verifier.issue(
                purpose=purpose, account=slot, address=address.mailbox, client=client,
                counted_as=counted_as, trusted=trusted,
            )  # fmt: skip
        except (CooldownActive, TooManyFailures) as refused:
            scope = "cooldown" if isinstance(refused, CooldownActive) else "failure_cap"
            signals.code_limited.send(
                app, purpose=purpose, account=slot, address=address, scope=scope,
                retry_after=refused.retry_after,
            )  # fmt: skip
            if scope == "cooldown":
                raise TooSoon(refused.retry_after, scope=scope) from None
            raise Locked(refused.retry_after) from None
        except EngineStoreUnavailable as exc:
            raise StoreUnavailable(str(exc)) from exc
        budgets = []
        if mailbox_budget:
            budgets.append(
                self._budget("per_address", "EMAILCODE_LIMIT_PER_ADDRESS", address.mailbox)
            )
        if current_app.config["EMAILCODE_LIMIT_GLOBAL"]:
            budgets.append(self._budget("global", "EMAILCODE_LIMIT_GLOBAL", "all"))
        try:
            self._spend_or_signal(budgets, address)
        except Exception:
            with _store_errors():
                verifier.withdraw(
                    purpose=purpose, account=slot, address=address.mailbox, code=issued.code,
                    counted_as=counted_as,
                )  # fmt: skip
            raise
        return issued

    def _void(
        self,
        purpose: str,
        address: Address,
        slot: str,
        code: str,
        counted_as: str | None,
        delivery: str,
    ) -> bool:
        """Withdraw an undelivered code. One bound to an account may be asked for again at
        once; one bound to an address alone keeps its cooldown, as a code nobody was sent
        does, so a mailbox that refuses mail answers like one no account has."""
        with _store_errors():
            withdrawn = self._verifier(purpose).withdraw(
                purpose=purpose, account=slot, address=address.mailbox, code=code,
                reopen=not slot.startswith(BY_ADDRESS), counted_as=counted_as,
            )  # fmt: skip
        if withdrawn:
            signals.code_withdrawn.send(
                current_app._get_current_object(),  # type: ignore[attr-defined]
                purpose=purpose, account=None if slot.startswith(BY_ADDRESS) else slot,
                address=address, delivery=delivery,
            )  # fmt: skip
        return withdrawn

    def _report_failure(self, delivery: str, *, permanent: bool, reason: str) -> None:
        signals.delivery_failed.send(
            current_app._get_current_object(),  # type: ignore[attr-defined]
            delivery=delivery, permanent=permanent, reason=reason,
        )  # fmt: skip

    def _locale(self) -> str:
        return request_locale(supported(current_app.config["EMAILCODE_DEFAULT_LOCALE"], "en"))

    def _write(
        self,
        purpose: str,
        address: Address,
        code: str,
        expires_in: int,
        delivery: str,
        account: str | None,
        locale: str | None = None,
        *,
        counted_as: str | None = None,
    ) -> CodeMail:
        rules = _state().purposes[purpose]
        locale = locale or self._locale()
        sent_at = datetime.fromtimestamp(_state().clock(), UTC)
        config = current_app.config
        return CodeMail(
            to=address.value, purpose=purpose, delivery=delivery, locale=locale,
            written=partial(
                write, purpose=purpose, code=code, locale=locale, expires_in=expires_in,
                sent_at=sent_at, code_in_subject=rules.code_in_subject, subject=rules.subject,
                template=rules.template,
            ),
            sent_at=sent_at, expires_in=expires_in,
            code_in_subject=rules.code_in_subject,
            from_address=config["EMAILCODE_DEFAULT_SENDER"] or config.get("MAIL_DEFAULT_SENDER"),
            code=code, account=account, counted_as=counted_as,
        )  # fmt: skip

    def _sender_now(self) -> Sender:
        state = _state()
        if state.outboxes:
            return state.outboxes[-1].append
        # A hook registered on the object (even after init_app), else the config's choice,
        # else the app's mail extension, looked up now (Mail(app) may come after EmailCode).
        return self._sender or state.sender or default_sender(current_app)

    def _deliver(self, mail: CodeMail, *, owner: str | None) -> None:
        state = _state()
        if state.outboxes:
            mail.subject  # written now, in the app's context: a test reads it after  # noqa: B018
            for outbox in state.outboxes:
                outbox.append(mail)
            answer = None
        else:
            answer = self._sender_now()(mail)
        status = "queued" if answer == "queued" else "sent"
        self._record(mail.delivery, status, owner=owner, ttl=mail.expires_in)

    def _record(self, delivery: str, status: str, *, owner: str | None, ttl: int) -> None:
        """A delivery's status, readable by ``owner`` alone, where the storage keeps them."""
        statuses = _state().backend.statuses
        if statuses is not None:
            owner_tag = self.keyed("owner", owner or "")
            statuses.put(delivery, status=status, owner=owner_tag, ttl=ttl, now=_state().clock())


def current_emailcode() -> EmailCode:
    """The ``EmailCode`` initialised on the current app."""
    return _state().extension


def _state() -> State:
    try:
        found: State = current_app.extensions["emailcode"]
    except KeyError:
        raise RuntimeError("Flask-EmailCode is not initialised on this app") from None
    return found


@contextmanager
def _store_errors() -> Iterator[None]:
    """The engine's StoreUnavailable as the extension's, which apps and handlers answer."""
    try:
        yield
    except EngineStoreUnavailable as exc:
        raise StoreUnavailable(str(exc)) from exc


def _submit_after_the_answer(error: BaseException | None) -> None:
    jobs = g.pop("_emailcode_after_the_answer", [])
    for job in jobs:
        _state().quiet.submit(job)


def _address(text: str) -> Address:
    try:
        return parse_address(text)
    except BadAddress as exc:
        raise AddressRefused("invalid", str(exc)) from None


def _delivery_id() -> str:
    return secrets.token_urlsafe(16)


def _configured_sender(app: Flask) -> Sender | None:
    named = app.config["EMAILCODE_SENDER"]
    if not named:
        return None
    from flask_emailcode.mail import send_with_flask_mail, send_with_mailman

    if named == "flask_mailman":
        return send_with_mailman
    if named == "flask_mail":
        return send_with_flask_mail
    if callable(named):
        return named  # type: ignore[no-any-return]
    from werkzeug.utils import import_string

    try:
        found: Sender = import_string(str(named).replace(":", "."))
    except ImportError as exc:
        raise ConfigError(f"EMAILCODE_SENDER: cannot import {named!r}") from exc
    return found


__all__ = ["BY_ADDRESS", "EmailCode", "Outcome", "State"]
