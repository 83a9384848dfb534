"""Imported by a test's worker process before it starts: the log sink kills its own process, as
a segfault in a channel would, whenever a batch holds the user ``POISON_USER_ID`` names. Each
death first appends the batch's size as a line to ``POISON_DEATHS``."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from app.channels.base import OutboundMessage, SendResult
from app.channels.log import LogChannel

_send = LogChannel.send


def _die(batch: int) -> None:
    with open(os.environ["POISON_DEATHS"], "a") as deaths:
        deaths.write(f"{batch}\n")
    os.kill(os.getpid(), signal.SIGKILL)


async def _poisoned(self: LogChannel, messages: Sequence[OutboundMessage]) -> list[SendResult]:
    if any(str(m.user_id) == os.environ["POISON_USER_ID"] for m in messages):
        _die(len(messages))
    return await _send(self, messages)


LogChannel.send = _poisoned  # type: ignore[method-assign]
