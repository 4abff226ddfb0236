"""DKIM: every message signed for the sender's domain, and the DNS record that vouches for it.

With ``MAIL_DKIM_DOMAIN``, ``MAIL_DKIM_SELECTOR`` and ``MAIL_DKIM_KEY_FILE`` set,
each message is signed with dkimpy as it is written out, after every header is
final, by direct delivery and the worker alike. Receivers fetch the public key
from ``<selector>._domainkey.<domain>``; ``flask --app campus mail dkim-record``
prints that record.

dkimpy canonicalises, hashes and writes the header; its RSA step is Python's own
``pow`` with the private exponent, about 12 ms for a 2,048-bit key. The same
RSASSA-PKCS1-v1_5 signature (deterministic, so byte for byte the same) takes
OpenSSL, through ``cryptography``, under a millisecond. So dkimpy's two RSA
entry points are handed a key that ``cryptography`` loaded once and signs with;
``tests/campus/test_dkim.py`` holds the signatures equal and verifies them with
dkimpy's own verifier.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

# The headers a reader trusts and a forger would change. A header absent from a
# message is signed as absent, so it cannot be added after signing either.
SIGNED_HEADERS = [
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"cc",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
]
# Relaxed canonicalisation survives the whitespace and folding changes relays make.
CANONICALIZE = (b"relaxed", b"relaxed")
# One quoted string of a TXT record holds at most 255 characters.
TXT_CHUNK = 255


class DkimError(ValueError):
    """The DKIM settings or key cannot sign."""


class _OpenSSLKey:
    """What dkimpy's parser returns here: the key ``cryptography`` loaded, once."""

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.key = key


_KEYS: dict[bytes, _OpenSSLKey] = {}
_PURE_PARSE = dkim.parse_pem_private_key
_PURE_SIGN = dkim.RSASSA_PKCS1_v1_5_sign
_DIGESTS = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


def _parse(data: bytes) -> Any:
    found = _KEYS.get(data)
    return found if found is not None else _PURE_PARSE(data)


def _sign(digest: Any, key: Any) -> bytes:
    if not isinstance(key, _OpenSSLKey):
        return bytes(_PURE_SIGN(digest, key))
    algorithm = _DIGESTS[digest.name]()
    return key.key.sign(digest.digest(), padding.PKCS1v15(), Prehashed(algorithm))


# dkimpy looks both up in its own namespace when it signs; keys it was not handed
# through ``Signer`` still take its pure-Python path.
dkim.parse_pem_private_key = _parse
dkim.RSASSA_PKCS1_v1_5_sign = _sign


@dataclass(frozen=True)
class Signer:
    domain: str
    selector: str
    key_pem: bytes

    def __post_init__(self) -> None:
        _KEYS.setdefault(self.key_pem, _OpenSSLKey(_load(self.key_pem)))

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        header: bytes = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.key_pem,
            canonicalize=CANONICALIZE,
            signature_algorithm=b"rsa-sha256",
            include_headers=SIGNED_HEADERS,
        )
        return header + message

    def dns_record(self) -> str:
        """The TXT record to publish, as a zone-file line."""
        public = (
            _load(self.key_pem)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        value = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}"
        chunks = [value[i : i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)]
        quoted = " ".join(f'"{chunk}"' for chunk in chunks)
        return f"{self.selector}._domainkey.{self.domain}. IN TXT ( {quoted} )"


def _load(pem: bytes) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError("MAIL_DKIM_KEY_FILE holds no unencrypted PEM private key") from exc
    # RSA only: every receiver verifies it, and Ed25519 signatures are still rarely checked.
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimError("MAIL_DKIM_KEY_FILE: DKIM signs with an RSA key here")
    if key.key_size < 1024:
        raise DkimError("MAIL_DKIM_KEY_FILE: an RSA key for DKIM needs at least 1024 bits")
    return key


def signer_from(config: Any) -> Signer | None:
    """The configured signer, None when DKIM is off; DkimError when half set or unusable."""
    names = ("MAIL_DKIM_DOMAIN", "MAIL_DKIM_SELECTOR", "MAIL_DKIM_KEY_FILE")
    values = [config.get(name) for name in names]
    if not any(values):
        return None
    if not all(values):
        raise DkimError(f"DKIM needs all of {', '.join(names)}")
    domain, selector, key_file = (str(value).strip() for value in values)
    for label in (*domain.split("."), *selector.split(".")):
        # Names go into a header and a DNS name: letters, digits and inner hyphens only.
        if not label or not label.isascii() or not label.replace("-", "").isalnum():
            raise DkimError("MAIL_DKIM_DOMAIN and MAIL_DKIM_SELECTOR must be plain DNS names")
    try:
        pem = Path(key_file).read_bytes()
    except OSError as exc:
        raise DkimError(f"MAIL_DKIM_KEY_FILE cannot be read: {exc.strerror}") from exc
    _load(pem)  # refused at start-up, not at the first message
    return Signer(domain=domain.lower(), selector=selector, key_pem=pem)
