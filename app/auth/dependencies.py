"""Request authentication: ``Authorization: Bearer KEY`` (or HTTP Basic with the key as the
user name, as Segment's libraries send). Authenticating also scopes the request's session to
the key's workspace: from here on every query is tenant-filtered."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.auth.service import AuthContext, find_recent_key, recent_key
from app.kit.db import scope_to_workspace
from app.kit.errors import Forbidden, Unauthorized
from app.kit.logs import bind
from app.kit.unit_of_work import unit_of_work


def _credential(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and value:
        return value
    if scheme == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials", field="Authorization") from None
        return decoded.partition(":")[0]
    raise Unauthorized(
        "send an API key as 'Authorization: Bearer KEY'",
        field="Authorization",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def authenticate(request: Request) -> AuthContext:
    key = _credential(request)
    uow = unit_of_work(request)
    # The database turn is taken here for every authenticated route, as routes that open a
    # connection of their own (an idempotency claim) rely on.
    await uow.reserve()
    session = uow.session
    auth = recent_key(key)
    if auth is not None and not session.in_transaction():
        # A key checked within the last second: no statement, so no worker thread (the
        # row-level-security settings are set when the transaction begins, ``after_begin``).
        scope_to_workspace(session, auth.workspace_id)
    else:
        auth = await anyio.to_thread.run_sync(_scoped_by_key, session, key)
    request.state.workspace_id = auth.workspace_id
    bind(workspace_id=str(auth.workspace_id))
    return auth


def _scoped_by_key(session: Session, key: str) -> AuthContext:
    auth = find_recent_key(session, key)
    if auth is None:
        raise Unauthorized("unknown or revoked API key", field="Authorization")
    scope_to_workspace(session, auth.workspace_id)
    return auth


async def require_secret(auth: Annotated[AuthContext, Depends(authenticate)]) -> AuthContext:
    if not auth.is_secret:
        raise Forbidden("this call needs a secret key; publishable keys may only identify and track")
    return auth


AnyKey = Annotated[AuthContext, Depends(authenticate)]
SecretKey = Annotated[AuthContext, Depends(require_secret)]
