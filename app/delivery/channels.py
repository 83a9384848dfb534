"""Which channel implementation sends a campaign's messages, and the event loop it runs on.

Provider channels register a factory by name; a name without one (or every name, with
``NUDGE_CHANNELS_TO_LOG``) goes to the log sink. Channels hold connections bound to an event
loop, so each worker thread keeps its own loop and its own channel instances.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from app.channels.base import Channel
from app.channels.log import LogChannel
from app.kit.settings import Settings

T = TypeVar("T")
ChannelFactory = Callable[[Settings], Channel]

_factories: dict[str, ChannelFactory] = {}
_local = threading.local()


def register(name: str, factory: ChannelFactory) -> None:
    _factories[name] = factory


def channel_for(name: str, settings: Settings) -> Channel:
    key = "log" if settings.channels_to_log or name not in _factories else name
    cache: dict[str, Channel] = _local.__dict__.setdefault("channels", {})
    if key not in cache:
        cache[key] = LogChannel(settings.log_channel_path) if key == "log" else _factories[key](settings)
    return cache[key]


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a channel coroutine on this thread's long-lived loop (connections are reused)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)
