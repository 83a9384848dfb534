"""Who may read an inbox: a publishable key plus the user's signature, or a secret key
naming any user (app.auth.user_signature). The user must exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.user_signature import signed_user
from app.kit import sql
from app.kit.errors import NotFound
from app.kit.unit_of_work import unit_of_work
from app.models import User


@dataclass(frozen=True)
class InboxReader:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    external_id: str


async def inbox_reader(request: Request) -> InboxReader:
    """Waits for the request's database turn on the event loop like every other route: a
    connection taken in a worker thread without one could leave the pool empty while the
    requests holding it wait for a thread."""
    uow = unit_of_work(request)
    await uow.reserve()
    return await anyio.to_thread.run_sync(resolve_reader, request, uow.session)


def resolve_reader(request: Request, session: Session) -> InboxReader:
    """The reader the request authenticates, with ``session`` scoped to its workspace; blocking."""
    signed = signed_user(request, session)
    external_id = signed.external_id
    user_id = _user_id(session, signed.auth.workspace_id, external_id)
    if user_id is None:
        raise NotFound(f"no user with external_id {external_id!r}", field="user")
    return InboxReader(signed.auth.workspace_id, user_id, external_id)


Reader = Annotated[InboxReader, Depends(inbox_reader)]


_USER_ID_PG = "SELECT id FROM users WHERE workspace_id = %(workspace)b AND external_id = %(external_id)b"


def _user_id(session: Session, workspace_id: uuid.UUID, external_id: str) -> uuid.UUID | None:
    if sql.is_postgres(session):
        # On the driver's cursor: a tenth of what the ORM statement costs, on every inbox call.
        with sql.pg_cursor(session) as cur:
            cur.execute(_USER_ID_PG, {"workspace": workspace_id, "external_id": external_id})
            row = cur.fetchone()
        return row[0] if row else None
    return session.scalars(select(User.id).where(User.external_id == external_id)).first()
