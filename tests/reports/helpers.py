"""Hand-built ledgers for report tests: a campaign through the API, then delivery rows,
events and engagements written directly at chosen times."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.kit.db import Database
from app.kit.ids import uuid7
from app.models import Delivery, Event, Send
from app.reports import activity_weeks
from tests.campaigns.helpers import T0, campaign_body
from tests.fixtures.assertions import ok


def make_campaign(client: Any, tenant: Any, **overrides: Any) -> uuid.UUID:
    body = campaign_body(
        variants=[
            {"key": "A", "content": {"title": "A", "body": "a"}},
            {"key": "B", "content": {"title": "B", "body": "b"}},
        ],
        **overrides,
    )
    return uuid.UUID(ok(client.post("/v1/campaigns", json=body, headers=tenant.secret_headers), 201)["id"])


def add_deliveries(
    database: Database, workspace_id: uuid.UUID, campaign_id: uuid.UUID, rows: list[dict[str, Any]]
) -> list[uuid.UUID]:
    """Each row needs ``user_id``; status defaults to sent at T0 on in_app, variant A."""
    full = []
    for row in rows:
        status = row.get("status", "sent")
        full.append(
            {
                "workspace_id": workspace_id,
                "id": uuid7(),
                "send_id": uuid.uuid4(),  # one send per row unless the test names one
                "campaign_id": campaign_id,
                "channel": "in_app",
                "variant": "A",
                "status": status,
                "due_at": T0,
                "attempts": 1,
                "created_at": T0,
                "sent_at": T0 if status in ("sent", "delivered") else None,
                **dict.fromkeys(
                    (
                        "expires_at",
                        "lease_until",
                        "provider_id",
                        "error",
                        "delivered_at",
                        "opened_at",
                        "clicked_at",
                        "converted_at",
                    )
                ),
                **row,
            }
        )
    with database.transaction(workspace_id) as session:
        session.execute(Delivery.__table__.insert(), full)
    return [r["id"] for r in full]


def add_events(
    database: Database, workspace_id: uuid.UUID, events: list[tuple[uuid.UUID, str, datetime, dict[str, Any]]]
) -> None:
    rows = [
        {
            "workspace_id": workspace_id,
            "id": uuid7(),
            "user_id": user_id,
            "name": name,
            "occurred_at": at,
            "received_at": at,
            "properties": properties,
            "message_id": None,
        }
        for user_id, name, at, properties in events
    ]
    with database.transaction(workspace_id) as session:
        session.execute(Event.__table__.insert(), rows)
        # What ingest writes with them: the retention report reads the weekly rollup.
        activity_weeks.record(session, workspace_id, [(r["user_id"], r["occurred_at"]) for r in rows])


def add_send(
    database: Database, workspace_id: uuid.UUID, campaign_id: uuid.UUID, occurrence: str
) -> uuid.UUID:
    send_id = uuid7()
    with database.transaction(workspace_id) as session:
        session.execute(
            Send.__table__.insert(),
            {
                "workspace_id": workspace_id,
                "id": send_id,
                "campaign_id": campaign_id,
                "occurrence": occurrence,
                "status": "done",
                "timing": {"mode": "utc"},
                "starts_at": T0,
                "planned_zones": [],
                "planned_count": 0,
                "created_at": T0,
            },
        )
    return send_id
