"""Who a campaign is for, as a condition on ``users`` that the planner, the preview and the
trigger path put into their own single statements.

Segment audiences use the segments compiler: ``members_select`` (one column ``user_id``) for
the planner's statements and ``is_member`` for one user on the trigger path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from app.campaigns.schemas import Audience, InlineSegment, SavedSegment, UserList
from app.kit.errors import Invalid
from app.kit.timezones import is_iana_zone
from app.models import Segment, User
from app.segments import compiler
from app.segments import service as segments
from app.segments.references import to_stored

_audience_adapter: TypeAdapter[Audience] = TypeAdapter(Audience)


def parse(doc: dict[str, Any]) -> Audience:
    return _audience_adapter.validate_python(doc)


def segment_definition(session: Session, audience: Audience) -> dict[str, Any] | None:
    """The segment definition behind an audience (references to saved segments resolved), or
    None for lists and all users. A bad inline definition is a 422 naming its node."""
    if isinstance(audience, InlineSegment):
        try:
            return to_stored(segments.prepare(session, audience.definition))
        except Invalid as exc:
            exc.field = f"audience.{exc.field}" if exc.field else "audience.definition"
            raise
    if isinstance(audience, SavedSegment):
        segment = session.scalars(select(Segment).where(Segment.id == audience.segment_id)).first()
        if segment is None:
            raise Invalid("no such segment", field="audience.segment_id")
        return dict(segment.definition)
    return None


def condition(
    session: Session, workspace_id: uuid.UUID, audience: Audience, *, now: datetime
) -> ColumnElement[bool]:
    """A condition on ``User`` selecting the audience (always with the workspace filter)."""
    scoped = User.workspace_id == workspace_id
    if isinstance(audience, UserList):
        return and_(scoped, User.external_id.in_(audience.external_ids))
    definition = segment_definition(session, audience)
    if definition is None:
        return scoped
    members = compiler.members_select(
        workspace_id, definition, dialect=session.get_bind().dialect.name, now=now
    )
    return and_(scoped, User.id.in_(select(members.subquery().c.user_id)))


def contains(
    session: Session, audience: Audience, user_id: uuid.UUID, external_id: str, *, now: datetime
) -> bool:
    """Membership of one user at ``now`` (the trigger path)."""
    if isinstance(audience, UserList):
        return external_id in audience.external_ids
    definition = segment_definition(session, audience)
    if definition is None:
        return True
    return bool(compiler.is_member(session, definition, user_id, now=now))


def effective_zone(raw: str | None, workspace_zone: str) -> str:
    """A user's zone, or the workspace's when unknown (or, defensively, not IANA here)."""
    return raw if raw and is_iana_zone(raw) else workspace_zone


def zone_groups(raw_zones: Iterable[str | None], workspace_zone: str) -> dict[str, list[str | None]]:
    """Stored zone values grouped by the zone they are planned in."""
    groups: dict[str, list[str | None]] = {}
    for raw in raw_zones:
        groups.setdefault(effective_zone(raw, workspace_zone), []).append(raw)
    return groups


def in_zones(raws: list[str | None]) -> ColumnElement[bool]:
    """Users whose stored zone is one of ``raws`` (None: no zone stored)."""
    named = [r for r in raws if r is not None]
    parts: list[ColumnElement[bool]] = []
    if named:
        parts.append(User.timezone.in_(named))
    if len(named) < len(raws):
        parts.append(User.timezone.is_(None))
    return or_(*parts) if parts else ~true()


def distinct_zones(session: Session, where: ColumnElement[bool]) -> list[str | None]:
    return list(session.scalars(select(User.timezone).where(where).distinct()))
