"""Each process keeps its workspaces' compiled variable sets for ``TTL_S``: a change made
through this process is seen at once (invalidated after its commit), one made through
another process within ``TTL_S``. Compiling is one query for the variables and one for their
saved segments; a request that finds its set fresh runs no query for it at all."""

from __future__ import annotations

import threading
import time
import uuid

from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app.content.compiled import CompiledSet, compile_set
from app.kit.db import current_workspace

TTL_S = 1.0


class ContentCache:
    def __init__(self, ttl_s: float = TTL_S) -> None:
        self.ttl_s = ttl_s
        self._sets: dict[uuid.UUID, CompiledSet] = {}
        self._refreshing = threading.Lock()

    def get(self, session: Session) -> CompiledSet:
        """The session's workspace's set; blocking when it has to be compiled."""
        workspace_id = current_workspace(session)
        found = self._sets.get(workspace_id)
        if found is None:
            found = self._sets[workspace_id] = compile_set(session)
        # Past the TTL one thread refreshes; requests arriving meanwhile use the set it
        # replaces rather than all compiling at once.
        elif time.monotonic() - found.compiled_at > self.ttl_s and self._refreshing.acquire(blocking=False):
            try:
                found = self._sets[workspace_id] = compile_set(session)
            finally:
                self._refreshing.release()
        return found

    def invalidate_after_commit(self, session: Session) -> None:
        workspace_id = current_workspace(session)

        def forget(_session: Session) -> None:
            self._sets.pop(workspace_id, None)

        event.listen(session, "after_commit", forget, once=True)


def content_cache(state: State) -> ContentCache:
    cache = getattr(state, "content_cache", None)
    if cache is None:
        cache = state.content_cache = ContentCache()
    return cache
