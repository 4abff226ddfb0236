"""Which domains an address may be at: the campus's own, and never a throwaway mailbox.

Addresses reach here validated (``addresses.parse_address``): ASCII, IDN in
punycode, lower-case domain, no trailing dot. The settings are folded the same
way at start-up (``settings.allowed_domains``), so no spelling slips past.
"""

from __future__ import annotations

from dataclasses import dataclass

import idna
from disposable_email_domains import blocklist
from flask import current_app

from campus.support.addresses import Address


@dataclass(frozen=True)
class DomainRule:
    """Why a domain is refused: ``allowed`` (as people write them) when it is not among
    the campus's, or ``disposable`` for a throwaway-mailbox service."""

    allowed: tuple[str, ...] = ()
    disposable: bool = False


def domain_of(address: Address) -> str:
    return address.key.rpartition("@")[2]


def is_disposable(domain: str) -> bool:
    """A listed throwaway service, or any subdomain of one."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in blocklist for i in range(len(labels) - 1))


def matches(domain: str, patterns: tuple[str, ...]) -> bool:
    """``x.cn`` matches exactly; ``*.x.cn`` matches ``x.cn`` and any name ending ``.x.cn``."""
    for pattern in patterns:
        if pattern.startswith("*."):
            base = pattern[2:]
            if domain == base or domain.endswith("." + base):
                return True
        elif domain == pattern:
            return True
    return False


def refusal_for_membership(address: Address) -> DomainRule | None:
    """Why ``address`` may not be an account's primary (membership) address, or None."""
    patterns: tuple[str, ...] = current_app.config["SIGNUP_ALLOWED_DOMAINS"]
    if patterns and not matches(domain_of(address), patterns):
        return DomainRule(allowed=tuple(_shown(pattern) for pattern in patterns))
    return refusal_for_any(address)


def refusal_for_any(address: Address) -> DomainRule | None:
    """Why ``address`` may not be added to any account, or None."""
    if current_app.config["SIGNUP_BLOCK_DISPOSABLE"] and is_disposable(domain_of(address)):
        return DomainRule(disposable=True)
    return None


def _shown(pattern: str) -> str:
    """A pattern as people write it: Chinese domains in Chinese."""
    wildcard = pattern.startswith("*.")
    name = idna.decode(pattern[2:] if wildcard else pattern)
    return f"*.{name}" if wildcard else name
