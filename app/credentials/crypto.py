"""AES-256-GCM under a key derived from the app secret. The workspace and provider are bound
in as associated data, so a ciphertext copied to another row does not decrypt."""

from __future__ import annotations

import os
import uuid
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.kit.settings import Settings
from app.kit.signing import derive_key

_VERSION = b"\x01"


class CredentialsUnreadable(Exception):
    """Wrong app secret, or a ciphertext that does not belong to this row."""


class CredentialBox:
    def __init__(self, settings: Settings) -> None:
        self._aead = AESGCM(derive_key(settings, "provider-credentials"))

    def seal(self, workspace_id: uuid.UUID, provider: str, values: dict[str, Any]) -> bytes:
        nonce = os.urandom(12)
        return (
            _VERSION + nonce + self._aead.encrypt(nonce, orjson.dumps(values), _bound(workspace_id, provider))
        )

    def open(self, workspace_id: uuid.UUID, provider: str, sealed: bytes) -> dict[str, Any]:
        if sealed[:1] != _VERSION:
            raise CredentialsUnreadable("unknown credentials format")
        try:
            plain = self._aead.decrypt(sealed[1:13], sealed[13:], _bound(workspace_id, provider))
        except InvalidTag:
            raise CredentialsUnreadable("credentials cannot be decrypted with this secret key") from None
        return orjson.loads(plain)


def _bound(workspace_id: uuid.UUID, provider: str) -> bytes:
    return f"{workspace_id}:{provider}".encode()
