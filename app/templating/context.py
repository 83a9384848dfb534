"""What a template sees: ``user`` (profile and ``attributes``), ``event`` for triggered sends
(``name``, ``timestamp`` as ISO 8601 text, ``properties``), and the built-ins
``occurrences_of[name]``, ``last_occurrence_of[name]`` and ``lifetime_value``. Built-ins are
loaded for a whole chunk in one query, and only those the compiled content reads (see
``Needs``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.kit.db import current_workspace
from app.models import Event
from app.templating.compiler import Needs

PROFILE_FIELDS = (
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "timezone",
    "locale",
    "country",
    "region",
    "city",
)
PURCHASE_EVENT = "purchase"
_profile_of = attrgetter(*PROFILE_FIELDS)


@dataclass(frozen=True)
class UserFacts:
    occurrences: dict[str, int] = field(default_factory=dict)
    last_occurrence: dict[str, datetime] = field(default_factory=dict)
    lifetime_value: float = 0.0


def load_facts(session: Session, user_ids: Sequence[uuid.UUID], needs: Needs) -> dict[uuid.UUID, UserFacts]:
    """The built-ins for every user of a chunk: at most two grouped queries."""
    if not user_ids or (not needs.events and not needs.lifetime_value):
        return {}
    workspace_id = current_workspace(session)
    counts: dict[uuid.UUID, dict[str, int]] = {}
    lasts: dict[uuid.UUID, dict[str, datetime]] = {}
    if needs.events:
        rows = session.execute(
            select(Event.user_id, Event.name, func.count(), func.max(Event.occurred_at))
            .where(
                Event.workspace_id == workspace_id,
                Event.user_id.in_(user_ids),
                Event.name.in_(sorted(needs.events)),
            )
            .group_by(Event.user_id, Event.name)
        )
        for user_id, name, count, last in rows:
            counts.setdefault(user_id, {})[name] = count
            lasts.setdefault(user_id, {})[name] = last
    values: dict[uuid.UUID, float] = {}
    if needs.lifetime_value:
        rows = session.execute(
            select(Event.user_id, func.sum(Event.properties["value"].as_float()))
            .where(
                Event.workspace_id == workspace_id,
                Event.user_id.in_(user_ids),
                Event.name == PURCHASE_EVENT,
            )
            .group_by(Event.user_id)
        )
        values = {user_id: float(total or 0) for user_id, total in rows}
    return {
        user_id: UserFacts(counts.get(user_id, {}), lasts.get(user_id, {}), values.get(user_id, 0.0))
        for user_id in user_ids
    }


def event_variables(name: str, occurred_at: datetime, properties: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``event`` a triggered send's templates read."""
    return {"name": name, "timestamp": occurred_at.isoformat(), "properties": dict(properties or {})}


def load_events(session: Session, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The triggering events of a chunk's deliveries, in one query; an event removed since
    (erasure, retention) is absent and its delivery renders an empty ``event``."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(Event.id, Event.name, Event.occurred_at, Event.properties).where(
            Event.workspace_id == current_workspace(session), Event.id.in_(sorted(set(event_ids)))
        )
    )
    return {row.id: event_variables(row.name, row.occurred_at, row.properties) for row in rows}


def render_context(
    user: Any,
    *,
    facts: UserFacts | None = None,
    event: Mapping[str, Any] | None = None,
    workspace_zone: str = "UTC",
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The variables for one user. ``user`` is a User or any object with its attributes;
    ``links`` adds ``unsubscribe_url`` and ``preferences_url`` (TrackingLinks.template_links)."""
    try:
        profile = dict(zip(PROFILE_FIELDS, _profile_of(user), strict=True))
    except AttributeError:  # a stand-in without every field
        profile = {name: getattr(user, name, None) for name in PROFILE_FIELDS}
    profile["attributes"] = dict(getattr(user, "attributes", None) or {})
    context = {
        "user": profile,
        "event": dict(event) if event else {},
        "occurrences_of": _Counts(facts.occurrences if facts else ()),
        "last_occurrence_of": dict(facts.last_occurrence) if facts else {},
        "lifetime_value": facts.lifetime_value if facts else 0.0,
        "_zone": profile["timezone"] or workspace_zone,
        "_locale": profile["locale"],
    }
    if links:
        context.update(links)
    return context


class _Counts(dict[str, int]):
    """``occurrences_of["never_done"]`` is 0, not empty."""

    def __missing__(self, key: str) -> int:
        return 0
