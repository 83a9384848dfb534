"""Acting as one end user from a client: a publishable key plus the user's signature, which
the app's own backend computes as ``hex(HMAC-SHA256(user signing key, external_id))`` and
hands to its client. Without the signing key nobody can produce another user's signature,
so a user cannot act as someone else. A secret key may name any user.

The key and signature may come as headers (``Authorization``, ``X-Nudge-User``,
``X-Nudge-User-Signature``) or, for EventSource which cannot set headers, as query
parameters (``key``, ``user``, ``signature``). Used by the inbox and by dynamic content."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request

from app.auth.service import AuthContext, find_recent_key
from app.kit.db import scope_to_workspace
from app.kit.errors import Forbidden, Unauthorized
from app.kit.settings import Settings
from app.kit.signing import derive_key


def user_signing_key(settings: Settings, workspace_id: uuid.UUID) -> bytes:
    return derive_key(settings, f"user-signature:{workspace_id}")


def user_signature(settings: Settings, workspace_id: uuid.UUID, external_id: str) -> str:
    return hmac.new(
        user_signing_key(settings, workspace_id), external_id.encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class SignedUser:
    auth: AuthContext
    external_id: str


def signed_user(request: Request, session: Session) -> SignedUser:
    """Check the key and the user's signature, then scope ``session`` to the key's workspace.
    Blocking (one key lookup, unless the key was checked within the last second): call it from a
    worker thread, or within ``read_and_settle``."""
    headers, query = request.headers, request.query_params
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    key = bearer.strip() if scheme.lower() == "bearer" else query.get("key", "")
    external_id = headers.get("x-nudge-user") or query.get("user") or ""
    signature = headers.get("x-nudge-user-signature") or query.get("signature") or ""
    if not key:
        raise Unauthorized("send a publishable key as 'Authorization: Bearer KEY' or ?key=", field="key")
    auth = find_recent_key(session, key)
    if auth is None:
        raise Unauthorized("unknown or revoked API key", field="key")
    if not external_id:
        raise Unauthorized("name the user with X-Nudge-User or ?user=", field="user")
    if not auth.is_secret:
        expected = user_signature(request.app.state.settings, auth.workspace_id, external_id)
        if not hmac.compare_digest(expected, signature.lower()):
            raise Forbidden("the user signature does not match", field="signature")
    scope_to_workspace(session, auth.workspace_id)
    return SignedUser(auth, external_id)
