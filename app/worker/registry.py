"""Task registry shared by the Celery worker and the in-process worker.

A task is a plain function ``fn(ctx, **ids)``: it receives its collaborators in ``ctx`` (so
tests and the in-process worker pass their own) and only ids as arguments, opens its own
transaction scoped to the ``workspace_id`` it carries, and is safe to run twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.kit.db import Database
from app.kit.jobs import JobSink


@dataclass(frozen=True)
class TaskContext:
    database: Database
    sink: JobSink


TaskFn = Callable[..., Any]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    fn: TaskFn
    queue: str
    every_s: float | None  # periodic (beat) interval, or None


TASKS: dict[str, TaskSpec] = {}


def task(name: str, *, queue: str = "default", every_s: float | None = None) -> Callable[[TaskFn], TaskFn]:
    def register(fn: TaskFn) -> TaskFn:
        if name in TASKS:
            raise RuntimeError(f"task {name!r} registered twice")
        TASKS[name] = TaskSpec(name=name, fn=fn, queue=queue, every_s=every_s)
        return fn

    return register


def load_all() -> dict[str, TaskSpec]:
    """Import every feature's tasks module so the registry is complete."""
    import app.campaigns.tasks
    import app.delivery.tasks
    import app.idempotency.tasks
    import app.journeys.tasks
    import app.operators.tasks
    import app.reports.tasks
    import app.retention.tasks  # noqa: F401

    return TASKS
