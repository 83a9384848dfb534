"""Saved segments: CRUD, counts under a time limit, member pages, and membership of one user."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.kit.db import current_workspace
from app.kit.errors import Conflict, NotFound
from app.kit.pagination import decode_cursor, encode_cursor
from app.models import (
    Campaign,
    CampaignStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    Segment,
    User,
    Variable,
)
from app.models.base import utcnow
from app.segments.compiler import member_predicate, members_select
from app.segments.definition import DefinitionError, SegmentDefinition
from app.segments.references import authored, refresh_dependents, resolve, to_stored
from app.segments.timeouts import scalar_within
from app.segments.validation import parse_definition
from app.users.service import get as get_user

MEMBERSHIP_BATCH = 50
# Counting hashes and sorts user ids by the hundred thousand; the default 4 MB spills to disk.
COUNT_WORK_MEM = "64MB"


@dataclass(frozen=True)
class Count:
    count: int | None
    timed_out: bool
    timeout_ms: int
    elapsed_ms: float


def prepare(session: Session, raw: Any, *, self_id: uuid.UUID | None = None) -> SegmentDefinition:
    """Parse, check and resolve a definition from a request; 422 names the bad node."""
    try:
        return resolve(session, parse_definition(_without_embedded(raw)), self_id=self_id)
    except DefinitionError as exc:
        raise exc.to_invalid() from None


def _without_embedded(raw: Any) -> Any:
    # Embedded copies are the server's to write: whatever a client sends there is ignored.
    return authored(raw) if isinstance(raw, dict) else raw


def get(session: Session, segment_id: uuid.UUID) -> Segment:
    segment = session.scalars(select(Segment).where(Segment.id == segment_id)).first()
    if segment is None:
        raise NotFound(f"no segment {segment_id}", field="segment_id")
    return segment


def create(session: Session, *, name: str, description: str | None, definition: Any) -> Segment:
    segment_id = uuid.uuid4()
    resolved = prepare(session, definition, self_id=segment_id)
    _refuse_taken_name(session, name)
    now = utcnow()
    segment = Segment(
        workspace_id=current_workspace(session),
        id=segment_id,
        name=name,
        description=description,
        definition=to_stored(resolved),
        created_at=now,
        updated_at=now,
    )
    session.add(segment)
    _flush_unique_name(session, name)
    return segment


def update(session: Session, segment_id: uuid.UUID, changes: dict[str, Any]) -> Segment:
    segment = get(session, segment_id)
    if "name" in changes and changes["name"] is not None and changes["name"] != segment.name:
        _refuse_taken_name(session, changes["name"])
        segment.name = changes["name"]
    if "description" in changes:
        segment.description = changes["description"]
    if changes.get("definition") is not None:
        segment.definition = to_stored(prepare(session, changes["definition"], self_id=segment.id))
        refresh_dependents(session, segment)
    segment.updated_at = utcnow()
    _flush_unique_name(session, segment.name)
    return segment


def delete(session: Session, segment_id: uuid.UUID) -> None:
    segment = get(session, segment_id)
    users_of = _referrers(session, segment.id)
    if users_of:
        raise Conflict(
            f"segment {segment.name!r} is used by {', '.join(users_of)}; change those first",
            field="segment_id",
        )
    session.delete(segment)
    session.flush()


def _referrers(session: Session, segment_id: uuid.UUID) -> list[str]:
    """What refers to the segment by id and would silently stop matching without it: other
    segments; variables' rules, archived ones included (they can return); campaigns not yet
    finished; and every version of a journey not archived (users in flight stay on theirs)."""
    segments = [
        repr(s.name)
        for s in session.scalars(select(Segment).order_by(Segment.name))
        if _refers(s.definition, segment_id)
    ]
    variables = [
        f"variable {v.key!r}"
        for v in session.scalars(select(Variable).order_by(Variable.key))
        if _refers(v.rules, segment_id)
    ]
    unfinished = Campaign.status.not_in((CampaignStatus.completed, CampaignStatus.cancelled))
    campaigns = [
        f"campaign {c.name!r}"
        for c in session.scalars(select(Campaign).where(unfinished).order_by(Campaign.name))
        if _refers([c.audience, c.schedule], segment_id)
    ]
    versions = select(Journey.name, JourneyVersion.definition).join(
        JourneyVersion, JourneyVersion.journey_id == Journey.id
    )
    journeys = sorted(
        {
            f"journey {name!r}"
            for name, definition in session.execute(versions.where(Journey.status != JourneyStatus.archived))
            if _refers(definition, segment_id)
        }
    )
    return segments + variables + campaigns + journeys


def _refers(document: Any, segment_id: uuid.UUID) -> bool:
    """Whether a stored document names the segment. A saved segment's node carries an embedded
    copy of its definition; what that copy names is the other segment's business, not a
    reference of this document's."""
    if isinstance(document, dict):
        if document.get("segment_id") == str(segment_id):
            return True
        if document.get("type") == "segment":
            return False
        return any(_refers(value, segment_id) for value in document.values())
    if isinstance(document, list):
        return any(_refers(item, segment_id) for item in document)
    return False


def list_segments(session: Session, *, limit: int, cursor: str | None) -> tuple[list[Segment], str | None]:
    statement = select(Segment).order_by(Segment.id).limit(limit + 1)
    if cursor:
        statement = statement.where(Segment.id > decode_cursor(cursor))
    segments = list(session.scalars(statement))
    next_cursor = encode_cursor(segments[limit - 1].id) if len(segments) > limit else None
    return segments[:limit], next_cursor


def _refuse_taken_name(session: Session, name: str) -> None:
    if session.scalars(select(Segment.id).where(Segment.name == name)).first() is not None:
        raise Conflict(f"a segment named {name!r} already exists", field="name")


def _flush_unique_name(session: Session, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a segment named {name!r} already exists", field="name") from None


def count(session: Session, definition: SegmentDefinition | dict[str, Any], timeout_ms: int) -> Count:
    """The exact number of members, or ``timed_out`` when counting took longer than allowed."""
    members = members_select(
        current_workspace(session), definition, dialect=_dialect(session), now=utcnow()
    ).subquery()
    started = time.perf_counter()
    statement = select(func.count()).select_from(members)
    value, timed_out = scalar_within(session, statement, timeout_ms, work_mem=COUNT_WORK_MEM)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return Count(None if timed_out else int(value), timed_out, timeout_ms, elapsed)


def members_page(
    session: Session, segment: Segment, *, limit: int, cursor: str | None
) -> tuple[list[User], str | None]:
    statement = _members_statement(session, segment.definition, limit + 1)
    if cursor:
        statement = statement.where(User.id > decode_cursor(cursor))
    found = list(session.scalars(statement))
    next_cursor = encode_cursor(found[limit - 1].id) if len(found) > limit else None
    return found[:limit], next_cursor


def sample(session: Session, definition: SegmentDefinition | dict[str, Any], limit: int) -> list[User]:
    """The first ``limit`` members (in id order) of a definition that need not be saved."""
    return list(session.scalars(_members_statement(session, definition, limit)))


def _members_statement(
    session: Session, definition: SegmentDefinition | dict[str, Any], limit: int
) -> Select[tuple[User]]:
    members = members_select(
        current_workspace(session), definition, dialect=_dialect(session), now=utcnow()
    ).subquery()
    return select(User).join(members, members.c.user_id == User.id).order_by(User.id).limit(limit)


def is_member(session: Session, segment: Segment, external_id: str) -> bool:
    user = get_user(session, external_id)
    return segment.id in _members_among(session, [segment], user.id)


def segments_of(session: Session, external_id: str) -> list[Segment]:
    """Every saved segment the user is in, by name."""
    user = get_user(session, external_id)
    segments = list(session.scalars(select(Segment).order_by(Segment.name)))
    found: list[Segment] = []
    for start in range(0, len(segments), MEMBERSHIP_BATCH):
        batch = segments[start : start + MEMBERSHIP_BATCH]
        found += [s for s in batch if s.id in _members_among(session, batch, user.id)]
    return found


def _members_among(session: Session, segments: Sequence[Segment], user_id: uuid.UUID) -> set[uuid.UUID]:
    """The ids of ``segments`` the user is in, from one statement with a column per segment."""
    workspace_id, dialect, now = current_workspace(session), _dialect(session), utcnow()
    users = User.__table__
    columns = [
        member_predicate(workspace_id, s.definition, dialect=dialect, now=now).label(f"s{i}")
        for i, s in enumerate(segments)
    ]
    row = session.execute(
        select(literal(1), *columns)
        .select_from(users)
        .where(users.c.workspace_id == workspace_id, users.c.id == user_id)
    ).first()
    if row is None:
        return set()
    return {s.id for s, member in zip(segments, row[1:], strict=True) if member}


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name
