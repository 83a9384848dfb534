"""Opaque cursors for keyset pagination over time-ordered UUID ids."""

from __future__ import annotations

import base64
import binascii
import uuid

from app.kit.errors import Invalid


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise Invalid("cursor is not one this API returned", field="cursor") from None
