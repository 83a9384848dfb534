"""Who may read an inbox: a publishable key plus the user's signature, which the app's own
backend computes as ``hex(HMAC-SHA256(user signing key, external_id))`` and hands to its
client. Without the signing key nobody can produce another user's signature, so a user
cannot read someone else's inbox. A secret key may read any user's inbox.

The key and signature may come as headers (``Authorization``, ``X-Nudge-User``,
``X-Nudge-User-Signature``) or, for EventSource which cannot set headers, as query
parameters (``key``, ``user``, ``signature``)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import find_active_key
from app.kit.db import scope_to_workspace
from app.kit.errors import Forbidden, NotFound, Unauthorized
from app.kit.settings import Settings
from app.kit.signing import derive_key
from app.kit.unit_of_work import unit_of_work
from app.models import User


def user_signing_key(settings: Settings, workspace_id: uuid.UUID) -> bytes:
    return derive_key(settings, f"user-signature:{workspace_id}")


def user_signature(settings: Settings, workspace_id: uuid.UUID, external_id: str) -> str:
    return hmac.new(
        user_signing_key(settings, workspace_id), external_id.encode(), hashlib.sha256
    ).hexdigest()


@dataclass(frozen=True)
class InboxReader:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    external_id: str


async def inbox_reader(request: Request) -> InboxReader:
    """Waits for the request's database turn on the event loop like every other route: a
    connection taken in a worker thread without one could leave the pool empty while the
    requests holding it wait for a thread."""
    headers, query = request.headers, request.query_params
    scheme, _, bearer = headers.get("authorization", "").partition(" ")
    key = bearer.strip() if scheme.lower() == "bearer" else query.get("key", "")
    external_id = headers.get("x-nudge-user") or query.get("user") or ""
    signature = headers.get("x-nudge-user-signature") or query.get("signature") or ""
    if not key:
        raise Unauthorized("send a publishable key as 'Authorization: Bearer KEY' or ?key=", field="key")
    uow = unit_of_work(request)
    await uow.reserve()
    settings = request.app.state.settings
    return await anyio.to_thread.run_sync(_reader, uow.session, settings, key, external_id, signature)


def _reader(session: Session, settings: Settings, key: str, external_id: str, signature: str) -> InboxReader:
    auth = find_active_key(session, key)
    if auth is None:
        raise Unauthorized("unknown or revoked API key", field="key")
    if not external_id:
        raise Unauthorized("name the user with X-Nudge-User or ?user=", field="user")
    if not auth.is_secret:
        expected = user_signature(settings, auth.workspace_id, external_id)
        if not hmac.compare_digest(expected, signature.lower()):
            raise Forbidden("the user signature does not match", field="signature")
    scope_to_workspace(session, auth.workspace_id)
    user_id = session.scalars(select(User.id).where(User.external_id == external_id)).first()
    if user_id is None:
        raise NotFound(f"no user with external_id {external_id!r}", field="user")
    return InboxReader(auth.workspace_id, user_id, external_id)


Reader = Annotated[InboxReader, Depends(inbox_reader)]
