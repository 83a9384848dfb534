"""Keys derived from the app secret, one per purpose, and compact signed tokens.

A token is ``base64url(payload) "." base64url(HMAC-SHA256[:16])``; anything altered, or
signed for another purpose, fails verification and the caller answers 404. Payloads are
bytes, so callers can pack ids compactly (links in email bodies stay short).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from app.kit.settings import Settings

_MAC_BYTES = 16


def derive_key(settings: Settings, purpose: str) -> bytes:
    return hmac.new(settings.signing_key(), b"nudge:" + purpose.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, payload: bytes) -> str:
        body = _b64(payload)
        return f"{body}.{_b64(self._mac(body))}"

    def verify(self, token: str) -> bytes | None:
        body, _, mac = token.partition(".")
        # Compare the text, not decoded bytes: base64 has spare bits, and a token must have
        # exactly one accepted spelling.
        if not hmac.compare_digest(mac.encode(), _b64(self._mac(body)).encode()):
            return None
        try:
            return _unb64(body)
        except (binascii.Error, ValueError):
            return None

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
