"""Wake-ups for open inbox streams. In one process an asyncio event per user; streams also
re-read the inbox every few seconds, so items written by another process (a worker) arrive
within that interval without any broker in between."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

Key = tuple[uuid.UUID, uuid.UUID]


class Hub:
    def __init__(self) -> None:
        self._waiters: dict[Key, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)

    def subscribe(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters[(workspace_id, user_id)].add((asyncio.get_running_loop(), event))
        return event

    def unsubscribe(self, workspace_id: uuid.UUID, user_id: uuid.UUID, event: asyncio.Event) -> None:
        waiters = self._waiters.get((workspace_id, user_id))
        if waiters is None:
            return
        waiters.discard(next((w for w in waiters if w[1] is event), (None, event)))  # type: ignore[arg-type]
        if not waiters:
            self._waiters.pop((workspace_id, user_id), None)

    def publish(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Safe from any thread or loop."""
        for loop, event in list(self._waiters.get((workspace_id, user_id), ())):
            loop.call_soon_threadsafe(event.set)
