from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from app.kit.schemas import RequestModel
from app.kit.validators import ExternalId, UtcTimestamp

EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_BATCH = 1000


class EventIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId = Field(description="The user's external id; unknown users are created")
    name: EventName
    timestamp: UtcTimestamp | None = Field(
        default=None, description="When it happened (client time; UTC if no offset). Default: now."
    )
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    message_id: MessageId | None = Field(
        default=None, description="Makes the call idempotent: a repeated message_id is stored once"
    )


# The batch body, for OpenAPI. The route validates items one by one, so one bad item rejects
# only itself; EventIn is in the document's components through the single-event route.
EVENT_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "events": {"type": "array", "maxItems": MAX_BATCH, "items": {"$ref": "#/components/schemas/EventIn"}}
    },
}


class ItemError(BaseModel):
    code: str
    message: str
    field: str | None


class EventResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    id: uuid.UUID | None = None
    error: ItemError | None = None


class EventBatchOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class EventOut(BaseModel):
    id: uuid.UUID | None = Field(description="The stored event; for a duplicate, null")
    status: Literal["accepted", "duplicate"]
