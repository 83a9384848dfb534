"""Embedded mode's email provider: each message is written as ``<delivery id>.eml`` into a
local folder (a repeat overwrites the same file), so a newcomer can open what was sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.email.message import BadMessage, Sender, build_email
from app.tracking.links import TrackingLinks


class OutboxChannel:
    name = "email"

    def __init__(self, folder: Path, sender: Sender, *, links: TrackingLinks | None) -> None:
        self.folder = folder
        self.sender = sender
        self.links = links

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await asyncio.to_thread(self._write_all, messages)

    def _write_all(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        self.folder.mkdir(parents=True, exist_ok=True)
        results = []
        for message in messages:
            try:
                built = build_email(message, self.sender, self.links)
            except BadMessage as exc:
                results.append(SendResult(message.delivery_id, Outcome.failed, error=f"bad message: {exc}"))
                continue
            (self.folder / f"{message.delivery_id}.eml").write_bytes(built.data)
            results.append(SendResult(message.delivery_id, Outcome.sent, provider_id=built.message_id))
        return results

    async def aclose(self) -> None:
        return None
