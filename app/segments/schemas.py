from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.segments.definition import Storable

DEFINITION_DOC = (
    'A condition tree: {"version": 1, "match": {...}}. Groups "all", "any", "not"; conditions '
    "attribute, field, subscription, device, event, aggregate, occurrence, active, near, segment, "
    "random_bucket. See docs/segments.md."
)
Definition = dict[str, Any]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
Description = Annotated[str, StringConstraints(max_length=2000), Storable]
PREVIEW_TIMEOUT_MS = 5_000


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None
    definition: Definition = Field(description=DEFINITION_DOC)


class SegmentUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    definition: Definition | None = Field(default=None, description=DEFINITION_DOC)


class SegmentOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    definition: Definition = Field(description="As written (saved-segment references unexpanded).")
    created_at: datetime
    updated_at: datetime


class SegmentPage(BaseModel):
    data: list[SegmentOut]
    next_cursor: str | None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: Definition = Field(description=DEFINITION_DOC)
    timeout_ms: int = Field(default=PREVIEW_TIMEOUT_MS, ge=100, le=60_000)


class CountOut(BaseModel):
    count: int | None = Field(description="Exact number of members; null when the time limit was hit.")
    timed_out: bool
    timeout_ms: int
    elapsed_ms: float
    message: str | None = None


class SegmentRef(BaseModel):
    id: uuid.UUID
    name: str


class UserSegmentsOut(BaseModel):
    external_id: str
    segments: list[SegmentRef]


class MembershipOut(BaseModel):
    segment_id: uuid.UUID
    external_id: str
    member: bool
