"""Embedded mode's email provider: each message is written as ``<delivery id>.eml`` into the
workspace's own folder of the outbox (a repeat overwrites the same file), and the dashboard's
Outbox page lists and shows them, so a newcomer sees what was sent without a mail server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.email.message import BadMessage, Sender, build_email
from app.tracking.links import TrackingLinks


def workspace_folder(outbox: Path, workspace_id: uuid.UUID) -> Path:
    """One folder per workspace: a workspace's page never lists another's mail."""
    return outbox / str(workspace_id)


class OutboxChannel:
    name = "email"

    def __init__(self, folder: Path, sender: Sender, *, links: TrackingLinks | None) -> None:
        self.folder = folder
        self.sender = sender
        self.links = links

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await asyncio.to_thread(self._write_all, messages)

    def _write_all(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            try:
                built = build_email(message, self.sender, self.links)
            except BadMessage as exc:
                results.append(SendResult(message.delivery_id, Outcome.failed, error=f"bad message: {exc}"))
                continue
            folder = workspace_folder(self.folder, message.workspace_id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{message.delivery_id}.eml").write_bytes(built.data)
            results.append(SendResult(message.delivery_id, Outcome.sent, provider_id=built.message_id))
        return results

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class OutboxEmail:
    delivery_id: uuid.UUID
    written_at: datetime
    to: str
    subject: str
    html: str | None
    text: str | None
    headers: list[tuple[str, str]]


def _read(path: Path) -> OutboxEmail:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    html, text = parsed.get_body(("html",)), parsed.get_body(("plain",))
    return OutboxEmail(
        delivery_id=uuid.UUID(path.stem),
        written_at=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        html=html.get_content() if html is not None else None,
        text=text.get_content() if text is not None else None,
        headers=[(name, str(value)) for name, value in parsed.items()],
    )


def latest(outbox: Path, workspace_id: uuid.UUID, *, limit: int = 100) -> list[OutboxEmail]:
    """The workspace's newest emails first."""
    folder = workspace_folder(outbox, workspace_id)
    if not folder.is_dir():
        return []
    paths = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    return [_read(path) for path in paths[:limit]]


def one(outbox: Path, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> OutboxEmail | None:
    path = workspace_folder(outbox, workspace_id) / f"{delivery_id}.eml"
    return _read(path) if path.is_file() else None
