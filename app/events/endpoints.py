from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from app.auth.dependencies import AnyKey
from app.events import service
from app.events.schemas import EVENT_BATCH_SCHEMA, MAX_BATCH, EventBatchOut, EventIn, EventOut
from app.idempotency.dependencies import Idempotent
from app.kit.errors import ErrorCode, Invalid, NudgeError
from app.kit.responses import JsonResponse
from app.kit.unit_of_work import unit_of_work
from app.models.base import utcnow

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.post("", response_model=EventOut, dependencies=[Idempotent], summary="Track one event")
async def track(body: EventIn, request: Request, _auth: AnyKey) -> Response:
    now = utcnow()
    event = service.to_tracked(body, now)

    def store(session: Session) -> Response:
        (event_id,) = service.ingest(session, [event], now)
        return JsonResponse({"id": event_id, "status": "accepted" if event_id else "duplicate"})

    return await unit_of_work(request).respond_and_settle(store)


@router.post(
    "/batch",
    response_model=EventBatchOut,
    dependencies=[Idempotent],
    summary="Track up to 1,000 events",
    description="Each item is validated on its own: a bad item is reported in `results` and the "
    "rest are stored.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": EVENT_BATCH_SCHEMA}}}
    },
)
async def track_batch(request: Request, _auth: AnyKey) -> Response:
    items = _batch_items(await request.body())
    now = utcnow()
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[service.TrackedEvent] = []
    positions: list[int] = []
    for index, raw in enumerate(items):
        try:
            valid.append(service.parse_item(raw, now))
            positions.append(index)
        except NudgeError as exc:
            results[index] = {
                "index": index,
                "status": "rejected",
                "id": None,
                "error": service.error_of(exc),
            }

    def store(session: Session) -> Response:
        ids = service.ingest(session, valid, now)
        duplicates = 0
        for index, event_id in zip(positions, ids, strict=True):
            duplicates += event_id is None
            status = "accepted" if event_id else "duplicate"
            results[index] = {"index": index, "status": status, "id": event_id, "error": None}
        return JsonResponse(
            {
                "accepted": len(valid) - duplicates,
                "duplicates": duplicates,
                "rejected": len(items) - len(valid),
                "results": results,
            }
        )

    return await unit_of_work(request).respond_and_settle(store)


def _batch_items(body: bytes) -> list[Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NudgeError(
            "the request body is not valid JSON", field="body", code=ErrorCode.invalid_json
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise Invalid("the body must be an object with an 'events' list", field="events")
    extra = set(payload) - {"events"}
    if extra:
        raise Invalid(f"unknown field {sorted(extra)[0]!r}", field=sorted(extra)[0])
    items = payload["events"]
    if len(items) > MAX_BATCH:
        raise Invalid(
            f"a batch holds at most {MAX_BATCH} events", field="events", code=ErrorCode.limit_exceeded
        )
    return items
