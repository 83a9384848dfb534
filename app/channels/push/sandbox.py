"""Embedded mode's push provider: every push becomes one JSON line in a local log file."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.models.base import utcnow


class PushLogChannel:
    name = "push"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        await asyncio.to_thread(self._append, messages)
        return [
            SendResult(m.delivery_id, Outcome.sent, provider_id=f"sandbox:{m.delivery_id}") for m in messages
        ]

    def _append(self, messages: Sequence[OutboundMessage]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        at = utcnow().isoformat()
        lines = [
            orjson.dumps({"at": at, "delivery_id": m.delivery_id, "address": m.address, "content": m.content})
            for m in messages
        ]
        with self.path.open("ab") as log:
            log.write(b"\n".join(lines) + b"\n")

    async def aclose(self) -> None:
        return None
