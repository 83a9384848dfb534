"""Random tokens kept only as their SHA-256 (sessions, invitations), and HMAC signatures
derived from the deployment's secret key, one purpose string per use."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def sign(key: bytes, purpose: str, message: str) -> str:
    return hmac.new(key, f"{purpose}|{message}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
