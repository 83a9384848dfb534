"""Stored journey versions, parsed once per process: a version never changes once users
are on it (edits of a launched journey make a new version)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from app.journeys.schemas import Definition
from app.models.journey_version import JourneyVersion

CACHE_SIZE = 1024


@dataclass(frozen=True)
class Version:
    journey_id: uuid.UUID
    number: int
    definition: Definition
    steps: dict[str, Any]
    campaigns: dict[str, uuid.UUID]  # send step id -> hidden campaign id


_cache: dict[tuple[uuid.UUID, int], Version] = {}


def load(session: Session, keys: set[tuple[uuid.UUID, int]]) -> dict[tuple[uuid.UUID, int], Version]:
    """The versions ``(journey id, number)`` asked for, from the cache or in one query."""
    missing = [k for k in keys if k not in _cache]
    if missing:
        rows = session.execute(
            select(
                JourneyVersion.journey_id,
                JourneyVersion.version,
                JourneyVersion.definition,
                JourneyVersion.campaigns,
            ).where(tuple_(JourneyVersion.journey_id, JourneyVersion.version).in_(missing))
        )
        if len(_cache) > CACHE_SIZE:
            _cache.clear()
        for journey_id, number, doc, campaigns in rows:
            definition = Definition.model_validate(doc)
            _cache[(journey_id, number)] = Version(
                journey_id,
                number,
                definition,
                definition.by_id(),
                {step: uuid.UUID(c) for step, c in campaigns.items()},
            )
    return {k: _cache[k] for k in keys if k in _cache}
