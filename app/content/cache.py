"""Each process keeps its workspaces' compiled variable sets. A change made through this
process is seen at once (invalidated after its commit); one made through another process
within ``CHECK_S``: past it, one request per process reads the workspace's content stamp (one
small aggregate query) and compiles the set again only when the stamp moved. Compiling (two
queries, the rules' segments parsed and resolved) on every check held back the requests
behind it: it was the content endpoint's p99. ``REBUILD_S`` bounds what a stamp could miss
(two edits that cancel out in its aggregates)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app.content.compiled import CompiledSet, compile_set, content_stamp
from app.kit.db import current_workspace

CHECK_S = 1.0
REBUILD_S = 60.0


@dataclass
class _Entry:
    compiled: CompiledSet
    checked_at: float


class ContentCache:
    def __init__(self, check_s: float = CHECK_S, rebuild_s: float = REBUILD_S) -> None:
        self.check_s = check_s
        self.rebuild_s = rebuild_s
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._checking = threading.Lock()

    def get(self, session: Session) -> CompiledSet:
        """The session's workspace's set; blocking when it has to be checked or compiled."""
        workspace_id = current_workspace(session)
        entry = self._entries.get(workspace_id)
        if entry is None:
            return self._compile(session, workspace_id).compiled
        now = time.monotonic()
        # Past the check interval one thread checks; requests arriving meanwhile use the set
        # it may replace rather than all checking at once.
        if now - entry.checked_at > self.check_s and self._checking.acquire(blocking=False):
            try:
                if now - entry.compiled.compiled_at > self.rebuild_s:
                    entry = self._compile(session, workspace_id)
                elif (stamp := content_stamp(session)) != entry.compiled.stamp:
                    entry = self._compile(session, workspace_id, stamp)
                else:
                    entry.checked_at = now
            finally:
                self._checking.release()
        return entry.compiled

    def _compile(self, session: Session, workspace_id: uuid.UUID, stamp: Any = None) -> _Entry:
        compiled = compile_set(session, stamp)
        entry = self._entries[workspace_id] = _Entry(compiled, compiled.compiled_at)
        return entry

    def invalidate_after_commit(self, session: Session) -> None:
        workspace_id = current_workspace(session)

        def forget(_session: Session) -> None:
            self._entries.pop(workspace_id, None)

        event.listen(session, "after_commit", forget, once=True)


def content_cache(state: State) -> ContentCache:
    cache = getattr(state, "content_cache", None)
    if cache is None:
        cache = state.content_cache = ContentCache()
    return cache
