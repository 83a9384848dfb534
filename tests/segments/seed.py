"""Small functions that put users, events and devices straight into a workspace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.kit.ids import uuid7
from app.models import Device, Event, User
from app.segments import activity

_EPOCH_SEEN = datetime.fromisoformat("2020-01-01T00:00:00+00:00")


def add_user(session: Session, workspace_id: uuid.UUID, external_id: str, **fields: Any) -> uuid.UUID:
    user_id = fields.pop("id", None) or uuid7()
    row: dict[str, Any] = {
        "workspace_id": workspace_id,
        "id": user_id,
        "external_id": external_id,
        "attributes": fields.pop("attributes", {}),
        "email_status": "subscribed",
        "push_status": "subscribed",
        "in_app_status": "subscribed",
        "first_seen_at": _EPOCH_SEEN,
        "last_seen_at": _EPOCH_SEEN,
        "created_at": _EPOCH_SEEN,
        "updated_at": _EPOCH_SEEN,
    }
    row.update(fields)
    session.execute(insert(User), [row])
    return user_id


def add_events(session: Session, workspace_id: uuid.UUID, events: list[dict[str, Any]]) -> None:
    """Each event: user_id, name, occurred_at, optional properties. Records activity as ingest does."""
    rows = [
        {
            "workspace_id": workspace_id,
            "id": uuid7(),
            "user_id": e["user_id"],
            "name": e["name"],
            "occurred_at": e["occurred_at"],
            "received_at": e["occurred_at"],
            "properties": e.get("properties", {}),
            "message_id": None,
        }
        for e in events
    ]
    if rows:
        session.execute(insert(Event), rows)
        activity.record(session, workspace_id, rows)


def add_device(
    session: Session, workspace_id: uuid.UUID, user_id: uuid.UUID, platform: str, *, enabled: bool = True
) -> None:
    session.execute(
        insert(Device),
        [
            {
                "workspace_id": workspace_id,
                "id": uuid7(),
                "user_id": user_id,
                "platform": platform,
                "token": uuid.uuid4().hex,
                "enabled": enabled,
                "created_at": _EPOCH_SEEN,
                "updated_at": _EPOCH_SEEN,
            }
        ],
    )


def snapshot(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The scoped workspace's rows as plain dicts, read back as stored (for the reference)."""
    users = [
        {c.name: getattr(u, c.key) for c in User.__table__.columns} for u in session.scalars(select(User))
    ]
    events = [
        dict(r._mapping)
        for r in session.execute(select(Event.user_id, Event.name, Event.occurred_at, Event.properties))
    ]
    devices = [
        dict(r._mapping) for r in session.execute(select(Device.user_id, Device.platform, Device.enabled))
    ]
    return {"users": users, "events": events, "devices": devices}
