"""Background jobs: a name, ids as keyword arguments, and where they go.

Jobs queued during a request are held until its transaction commits and dropped on rollback,
so a task never runs before the rows it needs exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    # A short wait before the job may run (seconds); long waits live in Postgres, not here.
    delay_s: float = 0.0


class JobSink(Protocol):
    def send(self, job: Job) -> None: ...
