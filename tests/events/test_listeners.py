"""The listeners' cache of event names: requests missing it together share one load."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.events.listeners import Listener


def test_requests_missing_the_cache_together_share_one_load():
    loads = 0
    started = threading.Barrier(8)

    def load(_session: Any) -> frozenset[str]:
        nonlocal loads
        loads += 1
        time.sleep(0.05)  # long enough for every other request to miss meanwhile
        return frozenset({"purchase"})

    listener = Listener("task", load)
    workspace = uuid.uuid4()

    def ask(_: int) -> frozenset[str]:
        started.wait()
        return listener.names(None, workspace)  # type: ignore[arg-type]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert answers == [frozenset({"purchase"})] * 8
    assert loads == 1
    listener.forget(workspace)
    assert listener.names(None, workspace) == frozenset({"purchase"})  # type: ignore[arg-type]
    assert loads == 2
