"""Password-reset tokens: stateless, signed with the secret key, valid for an hour and only
once, because the signature covers the current password hash, which the reset changes."""

from __future__ import annotations

import base64
import binascii
import struct
import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from app.models import Operator
from app.models.base import utcnow
from app.operators.tokens import same, sign

LIFETIME = timedelta(hours=1)
_PURPOSE = "password-reset"


def make(key: bytes, operator: Operator) -> str:
    expires = int((utcnow() + LIFETIME).timestamp())
    payload = base64.urlsafe_b64encode(operator.id.bytes + struct.pack(">Q", expires)).decode().rstrip("=")
    return f"{payload}.{_signature(key, payload, operator)}"


def check(key: bytes, session: Session, token: str) -> Operator | None:
    """The operator the token was made for, or None if it is forged, expired or used."""
    payload, _, signature = token.partition(".")
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        operator_id, (expires,) = uuid.UUID(bytes=raw[:16]), struct.unpack(">Q", raw[16:])
    except (binascii.Error, ValueError, struct.error):
        return None
    if expires < utcnow().timestamp():
        return None
    operator = session.get(Operator, operator_id)
    if operator is None or not same(signature, _signature(key, payload, operator)):
        return None
    return operator


def _signature(key: bytes, payload: str, operator: Operator) -> str:
    return sign(key, _PURPOSE, f"{payload}|{operator.password_hash}")
