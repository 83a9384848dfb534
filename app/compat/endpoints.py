"""``/v1/identify``, ``/v1/track``, ``/v1/page``, ``/v1/screen`` and ``/v1/batch`` in
Segment's HTTP Tracking API format (HTTP Basic with the key as user name works here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from app.auth.dependencies import AnyKey
from app.compat import service
from app.compat.schemas import BatchIn, IdentifyMessage, PageMessage, ScreenMessage, SegmentOut, TrackMessage
from app.events import service as events
from app.idempotency.dependencies import Idempotent
from app.kit.errors import NudgeError
from app.kit.session import DbSession
from app.models.base import utcnow

router = APIRouter(prefix="/v1", tags=["segment-compatible"])


@router.post("/identify", response_model=SegmentOut, dependencies=[Idempotent], summary="Segment identify")
def identify(body: IdentifyMessage, session: DbSession, _auth: AnyKey) -> SegmentOut:
    service.identify(session, body)
    return SegmentOut()


def _track_one(session: DbSession, message: TrackMessage | PageMessage | ScreenMessage) -> SegmentOut:
    now = utcnow()
    events.ingest(session, [service.as_event(message, now)], now)
    return SegmentOut()


@router.post("/track", response_model=SegmentOut, dependencies=[Idempotent], summary="Segment track")
def track(body: TrackMessage, session: DbSession, _auth: AnyKey) -> SegmentOut:
    return _track_one(session, body)


@router.post(
    "/page",
    response_model=SegmentOut,
    dependencies=[Idempotent],
    summary="Segment page (stored as event 'page_view')",
)
def page(body: PageMessage, session: DbSession, _auth: AnyKey) -> SegmentOut:
    return _track_one(session, body)


@router.post(
    "/screen",
    response_model=SegmentOut,
    dependencies=[Idempotent],
    summary="Segment screen (stored as event 'screen_view')",
)
def screen(body: ScreenMessage, session: DbSession, _auth: AnyKey) -> SegmentOut:
    return _track_one(session, body)


@router.post(
    "/batch",
    response_model=SegmentOut,
    dependencies=[Idempotent],
    summary="Segment batch: many calls of any type",
)
def batch(body: BatchIn, session: DbSession, _auth: AnyKey) -> SegmentOut:
    now = utcnow()
    results: list[dict[str, Any]] = []
    tracked: list[events.TrackedEvent] = []
    positions: list[int] = []
    for index, raw in enumerate(body.batch):
        if isinstance(raw, dict) and body.context and "context" not in raw:
            raw = {**raw, "context": body.context}
        try:
            message: BaseModel | None = service.parse(raw)
            if message is None:
                results.append({"index": index, "status": "ignored", "error": None})
            elif isinstance(message, IdentifyMessage):
                with session.begin_nested():
                    service.identify(session, message)
                results.append({"index": index, "status": "accepted", "error": None})
            else:
                tracked.append(service.as_event(message, now))  # type: ignore[arg-type]
                positions.append(index)
                results.append({"index": index, "status": "accepted", "error": None})
        except NudgeError as exc:
            results.append({"index": index, "status": "rejected", "error": service.error_of(exc)})
    for index, event_id in zip(positions, events.ingest(session, tracked, now), strict=True):
        if event_id is None:
            results[index]["status"] = "duplicate"
    return SegmentOut(results=results)  # type: ignore[arg-type]
