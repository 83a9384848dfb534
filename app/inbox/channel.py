"""The ``in_app`` channel: a delivery becomes an inbox row (one per delivery id, so a repeat is
a no-op), and open streams of that user are woken at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

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
                stmt = sql.insert(session, InboxItem).on_conflict_do_nothing(
                    index_elements=["workspace_id", "delivery_id"]
                )
                session.execute(stmt, batch)

    async def aclose(self) -> None:
        return None


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
