"""A render deadline that holds even for template loops that never call anything.

One daemon thread watches every armed render; when a deadline passes it raises
``RenderTimeout`` inside the rendering thread (CPython's per-thread asynchronous exception),
which interrupts pure-Python loops at the next bytecode. Arming costs two dictionary writes,
so thousands of renders a second pay nearly nothing.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

_TICK_S = 0.01


class RenderTimeout(Exception):
    """The render ran past its deadline."""


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, float] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        thread_id = threading.get_ident()
        with self._lock:
            self._deadlines[thread_id] = time.monotonic() + seconds
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="render-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._deadlines.pop(thread_id, None)

    def _watch(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                for thread_id, at in list(self._deadlines.items()):
                    if now >= at:
                        del self._deadlines[thread_id]
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(thread_id), ctypes.py_object(RenderTimeout)
                        )


_watchdog = _Watchdog()


def render_deadline(seconds: float) -> AbstractContextManager[None]:
    """Within this block the current thread is interrupted with RenderTimeout after ``seconds``."""
    return _watchdog.deadline(seconds)
