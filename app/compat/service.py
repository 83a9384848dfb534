"""Translate Segment calls into Nudge's own user upserts and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from app.compat.schemas import IdentifyMessage, PageMessage, ScreenMessage, TrackMessage
from app.events import service as events
from app.events.schemas import EventIn
from app.kit.error_handlers import error_field, field_path
from app.kit.errors import Invalid, NudgeError
from app.users import service as users
from app.users.attributes import AttributeChanges
from app.users.schemas import ProfileFields

# Segment trait names -> Nudge reserved fields.
_TRAIT_FIELDS = {
    "email": "email",
    "phone": "phone",
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "timezone": "timezone",
    "locale": "locale",
    "country": "country",
    "city": "city",
    "region": "region",
}
_CONTEXT_FIELDS = {"timezone": "timezone", "locale": "locale"}
EVENT_NAMES = {"page": "page_view", "screen": "screen_view"}

_MESSAGE_TYPES: dict[str, type[BaseModel]] = {
    "identify": IdentifyMessage,
    "track": TrackMessage,
    "page": PageMessage,
    "screen": ScreenMessage,
}


def parse(raw: Any, kind: str | None = None) -> BaseModel | None:
    """Validate one Segment message; None for call types Nudge does not store (group, alias)."""
    kind = kind or (raw.get("type") if isinstance(raw, dict) else None)
    model = _MESSAGE_TYPES.get(kind or "")
    if model is None:
        if kind in ("group", "alias"):
            return None
        raise Invalid(f"unknown call type {kind!r}", field="type")
    try:
        return TypeAdapter(model).validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = error_field(first, raw) if first["loc"] else "body"
        raise Invalid(f"{where}: {first['msg']}", field=where) from None


def identify(session: Session, message: IdentifyMessage) -> None:
    profile_input: dict[str, Any] = {}
    sources: dict[str, str] = {}  # reserved field -> where the caller put it, for error messages
    attributes: dict[str, Any] = {}
    for name, value in message.traits.items():
        if name in _TRAIT_FIELDS:
            profile_input[_TRAIT_FIELDS[name]] = value
            sources[_TRAIT_FIELDS[name]] = f"traits.{name}"
        else:
            attributes[name] = value
    for name, field in _CONTEXT_FIELDS.items():
        if name in message.context and field not in profile_input:
            profile_input[field] = message.context[name]
            sources[field] = f"context.{name}"
    try:
        profile = ProfileFields.model_validate(profile_input)
    except ValidationError as exc:
        first = exc.errors()[0]
        field, *rest = first["loc"] or ("traits",)
        where = field_path((sources.get(str(field), f"traits.{field}"), *rest))
        raise Invalid(f"{where}: {first['msg']}", field=where) from None
    users.upsert(
        session,
        message.external_id,
        profile=profile.reserved_changes(),
        changes=AttributeChanges(set=attributes),
    )


def as_event(message: TrackMessage | PageMessage | ScreenMessage, now: datetime) -> events.TrackedEvent:
    if isinstance(message, TrackMessage):
        name, properties = message.event, dict(message.properties)
    else:
        name = EVENT_NAMES[message.type]
        properties = {
            **message.properties,
            **{k: v for k, v in (("name", message.name), ("category", message.category)) if v},
        }
    event = EventIn(
        user_id=message.external_id,
        name=name,
        properties=properties,
        message_id=message.message_id or None,
        timestamp=message.timestamp,
    )
    return events.to_tracked(event, now)


def error_of(exc: NudgeError) -> dict[str, Any]:
    return events.error_of(exc)
