"""The ``in_app`` channel: a delivery becomes an inbox row (one per delivery id, so a repeat is
a no-op), and open streams of that user are woken at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.inbox.live import Hub
from app.inbox.schemas import InAppContent
from app.kit import sql
from app.kit.db import Database
from app.kit.ids import uuid7
from app.models import InboxItem
from app.models.base import utcnow


class InboxChannel:
    name = "in_app"

    def __init__(self, database: Database, hub: Hub | None = None) -> None:
        self.database = database
        self.hub = hub

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results, rows = _rows(messages)
        if rows:
            await asyncio.to_thread(self._store, rows)
            if self.hub is not None:
                for row in rows:
                    self.hub.publish(row["workspace_id"], row["user_id"])
        return [results[m.delivery_id] for m in messages]

    def _store(self, rows: list[dict[str, Any]]) -> None:
        by_workspace: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for row in rows:
            by_workspace.setdefault(row["workspace_id"], []).append(row)
        for workspace_id, batch in by_workspace.items():
            with self.database.transaction(workspace_id) as session:
                if sql.is_postgres(session):
                    _insert_pg(session, batch)
                    continue
                stmt = sql.insert(session, InboxItem).on_conflict_do_nothing(
                    index_elements=["workspace_id", "delivery_id"]
                )
                session.execute(stmt, batch)

    async def aclose(self) -> None:
        return None


# One statement per chunk instead of one INSERT per message (the driver's executemany): a
# quarter less Postgres CPU and two thirds less worker CPU per message. In delivery id order,
# so two chunks repeating the same deliveries wait on each other in one order.
_INSERT_PG = """
INSERT INTO inbox_items (workspace_id, id, user_id, delivery_id, content, trigger, created_at, expires_at)
SELECT %(workspace)b, item.id, item.user_id, item.delivery_id, item.content::jsonb, item.trigger,
       %(now)b, item.expires_at
FROM unnest(%(ids)b::uuid[], %(user_ids)b::uuid[], %(delivery_ids)b::uuid[], %(contents)b::text[],
            %(triggers)b::text[], %(expires)b::timestamptz[])
  AS item(id, user_id, delivery_id, content, trigger, expires_at)
ORDER BY item.delivery_id
ON CONFLICT (workspace_id, delivery_id) DO NOTHING
"""


def _insert_pg(session: Session, rows: list[dict[str, Any]]) -> None:
    params = {
        "workspace": rows[0]["workspace_id"],
        "now": rows[0]["created_at"],
        "ids": [row["id"] for row in rows],
        "user_ids": [row["user_id"] for row in rows],
        "delivery_ids": [row["delivery_id"] for row in rows],
        "contents": [orjson.dumps(row["content"]).decode() for row in rows],
        "triggers": [row["trigger"] for row in rows],
        "expires": [row["expires_at"] for row in rows],
    }
    with sql.pg_cursor(session) as cur:
        cur.execute(_INSERT_PG, params)


def _rows(messages: Sequence[OutboundMessage]) -> tuple[dict[uuid.UUID, SendResult], list[dict[str, Any]]]:
    now = utcnow()
    results: dict[uuid.UUID, SendResult] = {}
    rows: list[dict[str, Any]] = []
    for message in messages:
        try:
            content = InAppContent.model_validate(message.content)
        except ValidationError as exc:
            error = f"bad in-app content: {exc.errors()[0]['msg']}"
            results[message.delivery_id] = SendResult(message.delivery_id, Outcome.failed, error=error)
            continue
        expires = now + timedelta(seconds=content.expires_in_s) if content.expires_in_s else None
        rows.append(
            {
                "workspace_id": message.workspace_id,
                "id": uuid7(),
                "user_id": message.user_id,
                "delivery_id": message.delivery_id,
                "content": content.model_dump(mode="json", exclude={"trigger", "expires_in_s"}),
                "trigger": content.trigger,
                "created_at": now,
                "expires_at": expires,
            }
        )
        results[message.delivery_id] = SendResult(
            message.delivery_id, Outcome.sent, provider_id=str(message.delivery_id)
        )
    return results, rows
