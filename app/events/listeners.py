"""Ingest hands stored events to the features that listen for them (campaign triggers,
journeys): a cached set lookup per request, and a task after the commit for the rest, so
ingest latency never waits on their logic."""

from __future__ import annotations

import threading
import time as clock
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from app.kit.unit_of_work import UOW_KEY, UnitOfWork

EVENTS_PER_JOB = 500
CACHE_TTL_S = 30.0


class Listener:
    """The event names one feature listens to (per workspace, cached briefly) and the task
    that receives matching event ids."""

    def __init__(self, task: str, names: Callable[[Session], frozenset[str]]) -> None:
        self.task = task
        self._names = names
        self._cache: dict[uuid.UUID, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()
        # One load at a time: requests that miss together (a cold process under load) wait for
        # the first one's answer instead of each running the query. A load only reads, so the
        # lock never waits on a row lock held by a request queued behind it.
        self._loading = threading.Lock()

    def names(self, session: Session, workspace_id: uuid.UUID) -> frozenset[str]:
        cached = self._fresh(workspace_id)
        if cached is not None:
            return cached
        with self._loading:
            cached = self._fresh(workspace_id)
            if cached is not None:
                return cached
            now = clock.monotonic()
            names = self._names(session)
            with self._lock:
                self._cache[workspace_id] = (now, names)
        return names

    def _fresh(self, workspace_id: uuid.UUID) -> frozenset[str] | None:
        with self._lock:
            hit = self._cache.get(workspace_id)
        if hit is not None and clock.monotonic() - hit[0] < CACHE_TTL_S:
            return hit[1]
        return None

    def forget(self, workspace_id: uuid.UUID) -> None:
        """Drop this process's entry at once (a launch, pause or edit changed what is listened to)."""
        with self._lock:
            self._cache.pop(workspace_id, None)

    def clear(self) -> None:
        """Forget every workspace (tests start from a cold cache)."""
        with self._lock:
            self._cache.clear()

    def handoff(
        self,
        session_or_uow: Session | UnitOfWork,
        workspace_id: uuid.UUID,
        events: Iterable[tuple[uuid.UUID | None, str]],
    ) -> int:
        """Queue the task for stored events ``(id or None, name)`` this listener wants. The job
        is sent after the ingest transaction commits (and dropped if it rolls back). Returns how
        many events were handed over."""
        if isinstance(session_or_uow, UnitOfWork):
            uow: UnitOfWork | None = session_or_uow
            session = session_or_uow.session
        else:
            session = session_or_uow
            uow = session.info.get(UOW_KEY)
        if uow is None:
            return 0  # outside a request (demo data, scripts): nothing listens for the commit
        names = self.names(session, workspace_id)
        if not names:
            return 0
        ids = [str(event_id) for event_id, name in events if event_id is not None and name in names]
        for start in range(0, len(ids), EVENTS_PER_JOB):
            uow.enqueue(
                self.task, workspace_id=str(workspace_id), event_ids=ids[start : start + EVENTS_PER_JOB]
            )
        return len(ids)
