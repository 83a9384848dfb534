"""Which channel sends a campaign's messages, and the event loop it runs on.

Each workspace's channels are built from its stored credentials (app.channels.factory) once
per worker thread and kept, so provider connections stay pooled across chunks; they are
rebuilt when the workspace's credentials change. ``NUDGE_CHANNELS_TO_LOG`` sends everything
to the log sink; in embedded mode a channel with no credentials goes there too. Otherwise a
channel that is not configured is ``None``: its deliveries fail with a clear error.

Channels hold connections bound to an event loop, so each thread keeps its own loop and its
own channels.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.channels.base import Channel
from app.channels.factory import WorkspaceChannels, build_channels
from app.channels.log import LogChannel
from app.kit.db import Database
from app.models import ProviderCredential

T = TypeVar("T")
CredentialsVersion = tuple[datetime | None, int]

_local = threading.local()


@dataclass
class _Built:
    version: CredentialsVersion
    channels: WorkspaceChannels


def credentials_version(session: Session) -> CredentialsVersion:
    """Changes whenever a credential is saved (``updated_at``) or removed (the count)."""
    latest, count = session.execute(
        select(func.max(ProviderCredential.updated_at), func.count(ProviderCredential.id))
    ).one()
    return latest, count


def _log_channel(database: Database) -> Channel:
    log: Channel | None = getattr(_local, "log", None)
    if log is None:
        log = _local.log = LogChannel(database.settings.log_channel_path)
    return log


def channel_for(session: Session, workspace_id: uuid.UUID, name: str, database: Database) -> Channel | None:
    """The channel ``name`` of the workspace ``session`` is scoped to; None when not configured."""
    settings = database.settings
    if settings.channels_to_log:
        return _log_channel(database)
    built: dict[uuid.UUID, _Built] = _local.__dict__.setdefault("built", {})
    version = credentials_version(session)
    current = built.get(workspace_id)
    if current is None or current.version != version:
        if current is not None:
            run(current.channels.aclose())
        current = built[workspace_id] = _Built(
            version, build_channels(session, settings=settings, database=database)
        )
    channel = current.channels.get(name)
    if channel is None and settings.is_sqlite:
        return _log_channel(database)
    return channel


def close_all() -> None:
    """Close this thread's channels (worker shutdown, tests)."""
    built: dict[uuid.UUID, _Built] = _local.__dict__.pop("built", {})
    for entry in built.values():
        run(entry.channels.aclose())
    log: Channel | None = _local.__dict__.pop("log", None)
    if log is not None:
        run(log.aclose())


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a channel coroutine on this thread's long-lived loop (connections are reused)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop.run_until_complete(coro)
