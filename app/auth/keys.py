"""API key material: a visible prefix plus 192 random bits, kept only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from app.models import KeyKind

PREFIXES = {KeyKind.secret: "nk_sec_", KeyKind.publishable: "nk_pub_"}


@dataclass(frozen=True)
class NewKey:
    plaintext: str  # shown once, never stored
    prefix: str  # shown in listings so people can tell keys apart
    key_hash: str


def generate(kind: KeyKind) -> NewKey:
    plaintext = PREFIXES[kind] + secrets.token_urlsafe(24)
    return NewKey(plaintext=plaintext, prefix=plaintext[:14], key_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


def kind_of(plaintext: str) -> KeyKind | None:
    for kind, prefix in PREFIXES.items():
        if plaintext.startswith(prefix):
            return kind
    return None
