"""The log sink channel: accepts every message and appends it as one JSON line to a file (or
just counts it). Trials, tests and benchmarks send through it; real providers implement the
same interface.

Each chunk is one ``write`` that starts with a newline, so a write cut short by a killed
process leaves one unparsable line and never corrupts the next chunk's first line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult


class LogChannel:
    name = "log"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.sent = 0
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            assert self.path is not None
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        if self.path is not None and messages:
            lines = b"\n".join(
                orjson.dumps(
                    {
                        "delivery_id": m.delivery_id,
                        "workspace_id": m.workspace_id,
                        "user_id": m.user_id,
                        "channel": m.channel,
                        "address": m.address,
                        "content": m.content,
                    }
                )
                for m in messages
            )
            os.write(self._file(), b"\n" + lines + b"\n")
        self.sent += len(messages)
        return [SendResult(m.delivery_id, Outcome.sent) for m in messages]

    async def aclose(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
