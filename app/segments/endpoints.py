from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import SecretKey
from app.idempotency.dependencies import Idempotent
from app.kit.session import DbSession
from app.models import Segment
from app.segments import service
from app.segments.references import authored
from app.segments.schemas import (
    CountOut,
    MembershipOut,
    PreviewIn,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentRef,
    SegmentUpdate,
    UserSegmentsOut,
)
from app.users.endpoints import ExternalIdPath
from app.users.schemas import UserOut, UserPage

router = APIRouter(tags=["segments"])

Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64)]


def _out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        definition=authored(segment.definition),
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


def _count_out(result: service.Count) -> CountOut:
    message = (
        f"counting stopped at the {result.timeout_ms} ms time limit; simplify the definition or "
        "allow more time"
        if result.timed_out
        else None
    )
    return CountOut(
        count=result.count,
        timed_out=result.timed_out,
        timeout_ms=result.timeout_ms,
        elapsed_ms=result.elapsed_ms,
        message=message,
    )


@router.post(
    "/v1/segments",
    response_model=SegmentOut,
    status_code=201,
    dependencies=[Idempotent],
    summary="Save a segment",
)
def create_segment(body: SegmentIn, session: DbSession, _auth: SecretKey) -> SegmentOut:
    segment = service.create(
        session, name=body.name, description=body.description, definition=body.definition
    )
    return _out(segment)


@router.get("/v1/segments", response_model=SegmentPage, summary="List segments")
def list_segments(
    session: DbSession, _auth: SecretKey, limit: Limit = 100, cursor: Cursor = None
) -> SegmentPage:
    segments, next_cursor = service.list_segments(session, limit=limit, cursor=cursor)
    return SegmentPage(data=[_out(s) for s in segments], next_cursor=next_cursor)


@router.post(
    "/v1/segments/preview",
    response_model=CountOut,
    summary="Count the members of a definition that is not saved",
    description="Exact, under a time limit (`timeout_ms`, default 5 s): when it is hit the answer "
    "says so (`timed_out: true`, `count: null`).",
)
def preview(body: PreviewIn, session: DbSession, _auth: SecretKey) -> CountOut:
    definition = service.prepare(session, body.definition)
    return _count_out(service.count(session, definition, body.timeout_ms))


@router.get("/v1/segments/{segment_id}", response_model=SegmentOut, summary="Get a segment")
def get_segment(segment_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> SegmentOut:
    return _out(service.get(session, segment_id))


@router.patch("/v1/segments/{segment_id}", response_model=SegmentOut, summary="Change a segment")
def update_segment(
    segment_id: uuid.UUID, body: SegmentUpdate, session: DbSession, _auth: SecretKey
) -> SegmentOut:
    return _out(service.update(session, segment_id, body.model_dump(exclude_unset=True)))


@router.delete(
    "/v1/segments/{segment_id}",
    status_code=204,
    summary="Delete a segment",
    description="Refused (409) while another segment or a variable's rule refers to it.",
)
def delete_segment(segment_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> Response:
    service.delete(session, segment_id)
    return Response(status_code=204)


@router.get("/v1/segments/{segment_id}/count", response_model=CountOut, summary="Count a segment's members")
def count_segment(
    segment_id: uuid.UUID,
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    timeout_ms: Annotated[int | None, Query(ge=100, le=600_000)] = None,
) -> CountOut:
    segment = service.get(session, segment_id)
    limit = timeout_ms or request.app.state.settings.statement_timeout_ms
    return _count_out(service.count(session, segment.definition, limit))


@router.get(
    "/v1/segments/{segment_id}/users",
    response_model=UserPage,
    summary="List a segment's members",
    description="Cursor-paged in user id order; evaluated live on each page.",
)
def segment_users(
    segment_id: uuid.UUID, session: DbSession, _auth: SecretKey, limit: Limit = 100, cursor: Cursor = None
) -> UserPage:
    segment = service.get(session, segment_id)
    members, next_cursor = service.members_page(session, segment, limit=limit, cursor=cursor)
    return UserPage(data=[UserOut.model_validate(u) for u in members], next_cursor=next_cursor)


@router.get(
    "/v1/segments/{segment_id}/users/{external_id}",
    response_model=MembershipOut,
    summary="Is this user in the segment?",
)
def segment_membership(
    segment_id: uuid.UUID, external_id: ExternalIdPath, session: DbSession, _auth: SecretKey
) -> MembershipOut:
    segment = service.get(session, segment_id)
    member = service.is_member(session, segment, external_id)
    return MembershipOut(segment_id=segment.id, external_id=external_id, member=member)


@router.get(
    "/v1/users/{external_id}/segments", response_model=UserSegmentsOut, summary="The segments a user is in"
)
def user_segments(external_id: ExternalIdPath, session: DbSession, _auth: SecretKey) -> UserSegmentsOut:
    segments = service.segments_of(session, external_id)
    return UserSegmentsOut(
        external_id=external_id, segments=[SegmentRef(id=s.id, name=s.name) for s in segments]
    )
