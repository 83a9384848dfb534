"""Key lookup and management. Lookup runs before any workspace is known, so it reads the
``api_keys`` table with an explicit Core query on the key hash (the only unscoped read)."""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.keys import NewKey, generate, hash_key, kind_of
from app.kit.errors import NotFound
from app.models import ApiKey, KeyKind
from app.models.base import utcnow

_api_keys = ApiKey.__table__


@dataclass(frozen=True)
class AuthContext:
    workspace_id: uuid.UUID
    key_id: uuid.UUID
    kind: KeyKind

    @property
    def is_secret(self) -> bool:
        return self.kind is KeyKind.secret


def find_active_key(session: Session, plaintext: str) -> AuthContext | None:
    if kind_of(plaintext) is None:
        return None
    digest = hash_key(plaintext)
    row = session.execute(
        select(
            _api_keys.c.workspace_id,
            _api_keys.c.id,
            _api_keys.c.kind,
            _api_keys.c.key_hash,
            _api_keys.c.revoked_at,
        ).where(_api_keys.c.key_hash == digest)
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_hash, digest):
        return None
    return AuthContext(workspace_id=row.workspace_id, key_id=row.id, kind=KeyKind(row.kind))


# Keys are remembered for a second: clients call many times a second, and a request whose
# key is remembered needs no query (nor a worker thread) to authenticate.
RECENT_KEY_TTL_S = 1.0
_MAX_RECENT_KEYS = 10_000
_recent_keys: dict[str, tuple[float, AuthContext]] = {}


def recent_key(plaintext: str) -> AuthContext | None:
    """The key as this process found it within the last second, or None: no query."""
    hit = _recent_keys.get(hash_key(plaintext))
    if hit is not None and time.monotonic() - hit[0] < RECENT_KEY_TTL_S:
        return hit[1]
    return None


def find_recent_key(session: Session, plaintext: str) -> AuthContext | None:
    """``find_active_key`` without the query when this process found the key within the last
    second: a revoked key stops working within a second (at once in the revoking process)."""
    auth = recent_key(plaintext)
    if auth is not None:
        return auth
    auth = find_active_key(session, plaintext)
    if auth is not None:
        if len(_recent_keys) >= _MAX_RECENT_KEYS:
            _recent_keys.clear()
        _recent_keys[hash_key(plaintext)] = (time.monotonic(), auth)
    return auth


def create_key(
    session: Session, *, workspace_id: uuid.UUID, kind: KeyKind, name: str = ""
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    material: NewKey = generate(kind)
    key = ApiKey(
        workspace_id=workspace_id,
        kind=kind,
        name=name,
        prefix=material.prefix,
        key_hash=material.key_hash,
    )
    session.add(key)
    session.flush()
    return key, material.plaintext


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(session: Session, *, key_id: uuid.UUID) -> ApiKey:
    key = session.scalars(select(ApiKey).where(ApiKey.id == key_id)).first()
    if key is None:
        raise NotFound("no such API key", field="key_id")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    session.flush()
    _recent_keys.clear()
    return key
