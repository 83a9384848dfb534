from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from app.kit.schemas import RequestModel
from app.kit.validators import UtcTimestamp

SegmentId = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class SegmentMessage(RequestModel):
    """Fields common to every Segment call; unknown ones (integrations, _metadata...) are kept out."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    user_id: SegmentId | None = Field(default=None, alias="userId")
    anonymous_id: SegmentId | None = Field(default=None, alias="anonymousId")
    timestamp: UtcTimestamp | None = None
    message_id: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, alias="messageId"
    )
    context: dict[str, JsonValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _someone(self) -> SegmentMessage:
        if not (self.user_id or self.anonymous_id):
            raise ValueError("userId or anonymousId is required")
        return self

    @property
    def external_id(self) -> str:
        return self.user_id or self.anonymous_id or ""


class IdentifyMessage(SegmentMessage):
    type: Literal["identify"] = "identify"
    traits: dict[str, JsonValue] = Field(default_factory=dict)


class TrackMessage(SegmentMessage):
    type: Literal["track"] = "track"
    event: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    properties: dict[str, JsonValue] = Field(default_factory=dict)


class PageMessage(SegmentMessage):
    type: Literal["page"] = "page"
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    properties: dict[str, JsonValue] = Field(default_factory=dict)


class ScreenMessage(SegmentMessage):
    type: Literal["screen"] = "screen"
    name: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    properties: dict[str, JsonValue] = Field(default_factory=dict)


class BatchIn(RequestModel):
    model_config = ConfigDict(extra="ignore")

    # Items are validated one by one in the route, so one bad item rejects only itself.
    batch: list[Any] = Field(max_length=1000)
    context: dict[str, JsonValue] = Field(default_factory=dict)


class SegmentResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected", "ignored"]
    error: dict[str, Any] | None = None


class SegmentOut(BaseModel):
    success: bool = True
    results: list[SegmentResult] | None = None
