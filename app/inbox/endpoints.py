"""The inbox as the app sees it, and a server-sent events stream of new items."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.auth.dependencies import SecretKey
from app.auth.user_signature import user_signing_key
from app.inbox import service
from app.inbox.auth import InboxReader, Reader, resolve_reader
from app.inbox.live import Hub
from app.inbox.schemas import InboxItemOut, InboxPage
from app.kit.db import Database
from app.kit.responses import model_response
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.models import InboxItem

router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

POLL_S = 3.0
HEARTBEAT_S = 15.0


def inbox_hub(request: Request) -> Hub:
    hub = getattr(request.app.state, "inbox_hub", None)
    if hub is None:
        hub = request.app.state.inbox_hub = Hub()
    return hub


@router.get("", response_model=InboxPage, summary="The user's inbox, newest first")
async def get_inbox(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Response:
    # Who reads and what they see, with the commit, on the event loop (``Reader`` would take
    # a thread of its own).
    def read(session: Session) -> tuple[list[InboxItemOut], int]:
        reader = resolve_reader(request, session)
        return service.page(session, reader.user_id, limit=limit)

    items, unread = await unit_of_work(request).read_and_settle(read)
    return model_response(InboxPage(data=items, unread=unread))


@router.post("/{item_id}/read", response_model=InboxItemOut, summary="Mark an item read (counts as opened)")
def read_item(item_id: uuid.UUID, reader: Reader, session: DbSession) -> InboxItemOut:
    return InboxItemOut.model_validate(service.mark_read(session, reader.user_id, item_id))


@router.post("/{item_id}/dismiss", status_code=204, summary="Dismiss an item (never shown again)")
def dismiss_item(item_id: uuid.UUID, reader: Reader, session: DbSession) -> Response:
    service.dismiss(session, reader.user_id, item_id)
    return Response(status_code=204)


class SigningKeyOut(BaseModel):
    key: str
    algorithm: str = "HMAC-SHA256 over the user's external_id, hex"


@router.get("/signing-key", response_model=SigningKeyOut, summary="The key your backend signs user ids with")
def signing_key(request: Request, auth: SecretKey) -> SigningKeyOut:
    return SigningKeyOut(key=user_signing_key(request.app.state.settings, auth.workspace_id).hex())


@router.get("/stream", summary="Server-sent events: each new inbox item as it arrives")
async def stream(
    request: Request, reader: Reader, max_s: Annotated[float, Query(gt=0, le=3600)] = 300
) -> StreamingResponse:
    """Ends after ``max_s`` seconds; EventSource reconnects by itself."""
    database: Database = request.app.state.database
    hub = inbox_hub(request)
    newest = await anyio.to_thread.run_sync(_newest_id, database, reader.workspace_id, reader.user_id)

    async def events() -> AsyncIterator[bytes]:
        nonlocal newest
        wake = hub.subscribe(reader.workspace_id, reader.user_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        quiet_since = loop.time()
        try:
            yield b"retry: 3000\n\n"
            while loop.time() < deadline and not await request.is_disconnected():
                items = await anyio.to_thread.run_sync(_items_after, database, reader, newest)
                for item in reversed(items):
                    newest = item.id
                    body = orjson.dumps(InboxItemOut.model_validate(item).model_dump(mode="json"))
                    yield b"id: " + str(item.id).encode() + b"\nevent: inbox\ndata: " + body + b"\n\n"
                    quiet_since = loop.time()
                if loop.time() - quiet_since > HEARTBEAT_S:
                    yield b": keep-alive\n\n"
                    quiet_since = loop.time()
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(POLL_S, max(0.0, deadline - loop.time())))
        finally:
            hub.unsubscribe(reader.workspace_id, reader.user_id, wake)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _newest_id(database: Database, workspace_id: uuid.UUID, user_id: uuid.UUID) -> uuid.UUID | None:
    with database.transaction(workspace_id) as session:
        items = service.list_items(session, user_id, limit=1)
        return items[0].id if items else None


def _items_after(database: Database, reader: InboxReader, after: uuid.UUID | None) -> list[InboxItem]:
    with database.transaction(reader.workspace_id) as session:
        items = service.list_items(session, reader.user_id, limit=100, after=after)
        session.expunge_all()
        return items
