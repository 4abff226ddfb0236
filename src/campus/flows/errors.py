"""What a flow refuses, in its own terms: the blueprints say it beside the right field."""

from __future__ import annotations

from campus.support.domains import DomainRule


class FlowError(Exception):
    """A request a flow will not carry out; ``str()`` says why, in English, for logs and CLI."""


class WeakPassword(FlowError):
    """The new password breaks a rule: too short, or the account's own address."""

    def __init__(self, *, is_address: bool, min_length: int) -> None:
        super().__init__(
            "the password may not be the email address"
            if is_address
            else f"the password needs at least {min_length} characters"
        )
        self.is_address = is_address
        self.min_length = min_length


class AccountExists(FlowError):
    """Another account already holds the address."""


class SameAddress(FlowError):
    """The new address is the account's own already."""


class DomainRefused(FlowError):
    """The address's domain may not be used here; ``rule`` says what may."""

    def __init__(self, rule: DomainRule) -> None:
        super().__init__("a throwaway mailbox" if rule.disposable else "not a campus domain")
        self.rule = rule


def check_domain(rule: DomainRule | None) -> None:
    """Raise DomainRefused for a refusal from ``support.domains``."""
    if rule is not None:
        raise DomainRefused(rule)
