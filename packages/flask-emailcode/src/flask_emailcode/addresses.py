"""Email addresses: validated once at the edge, then trusted everywhere inside.

The extension validates every address it is handed (``parse_address``) and
counts budgets and cooldowns by ``Address.mailbox``, so ``A@x.com``,
``a+tag@x.com`` and, at Gmail, ``a.b@gmail.com`` and ``ab@gmail.com`` share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254

# Providers that deliver ``a.b.c@`` to ``abc@``, under each of their names. The
# one place that knows: budgets and cooldowns count mailboxes through it.
DOTS_IGNORED = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


class BadAddress(ValueError):
    """Not an address we will send to."""


@dataclass(frozen=True)
class Address:
    """A validated address: ``value`` to send to and store, ``key`` to compare."""

    value: str

    @property
    def key(self) -> str:
        # One account per address whatever its case: the comparison key folds it.
        return self.value.lower()

    @property
    def mailbox(self) -> str:
        """The inbox this address delivers to, for counting what is sent there.

        ``name+tag@`` reaches ``name@`` at every large provider, and some ignore
        dots too; without this, ``a+1@``, ``a+2@``, ... would each get a budget.
        """
        local, _, domain = self.key.rpartition("@")
        local = local.split("+", 1)[0] or local
        domain = DOTS_IGNORED.get(domain, domain)
        if domain in DOTS_IGNORED.values():
            local = local.replace(".", "") or local
        return f"{local}@{domain}"


def parse_address(text: object) -> Address:
    """Validate an address typed by a person; raise BadAddress otherwise.

    Only plain ASCII addresses pass (no SMTPUTF8, no quoted local parts, no
    display names, no domain literals), so the value is safe in a header as is.
    """
    if not isinstance(text, str) or not text.strip():
        raise BadAddress("empty")
    return _parse(text)


# A request checks its address at the limits and in its form, and the worker again
# before it writes a header; email-validator is the same pure function each time.
# Refusals are not kept: an exception leaves nothing in the cache.
@lru_cache(maxsize=4096)
def _parse(text: str) -> Address:
    if any(ch in text for ch in "\r\n\x00"):
        raise BadAddress("line break")
    if "=?" in text:
        # RFC 2047 forbids encoded words in an address; a lax mail client could
        # still decode one into a different address on display.
        raise BadAddress("encoded word")
    try:
        result = validate_email(
            text.strip(),
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_display_name=False,
            allow_domain_literal=False,
            check_deliverability=False,
        )
    except EmailNotValidError as exc:
        raise BadAddress(str(exc)) from exc
    value = result.ascii_email or result.normalized
    if len(value) > MAX_LENGTH or not value.isascii():
        raise BadAddress("too long")
    return Address(value)


def mask(value: str) -> str:
    """``alice@example.com`` -> ``a***e@example.com``, for logs and notices."""
    local, _, domain = value.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}***@{domain}"
    return f"{local[0]}***{local[-1]}@{domain}"
