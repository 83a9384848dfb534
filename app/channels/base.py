"""The interface between the dispatcher and every channel (log sink, email, push, in-app,
webhook). The dispatcher renders content and resolves addresses; a channel only sends.

A channel receives a whole chunk at once so it can reuse connections and fan out
concurrently; it returns one result per message, never raises for a single bad message.
``delivery_id`` is the idempotency id every provider call carries (APNs ``apns-id``, email
``Message-ID``, webhook header), so a message repeated after a crash can be recognised.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    sent = "sent"  # the provider accepted it
    failed = "failed"  # final: the provider refused it (bad address, 4xx)
    retry = "retry"  # transient (429, 5xx, time-out): try again later, same delivery id


# Not frozen: dispatch builds one of each per message, and a frozen dataclass sets every
# field through object.__setattr__ (several times slower to build).
@dataclass(slots=True)
class OutboundMessage:
    delivery_id: uuid.UUID
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    channel: str
    address: dict[str, Any]  # e.g. {"email": ...} or {"platform": "fcm", "token": ..., "device_id": ...}
    content: dict[str, Any]  # rendered, channel-specific fields (title, body, subject, html...)


@dataclass(slots=True)
class SendResult:
    delivery_id: uuid.UUID
    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    # Feedback for the caller to apply: e.g. {"disable_device": device_id} or {"suppress_email": addr}
    feedback: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    name: str

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]: ...

    async def aclose(self) -> None: ...
