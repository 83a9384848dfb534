"""The Celery application for ``nudge worker`` and ``nudge beat``.

Reliability settings follow one rule: a task is acknowledged only after it finished, is
redelivered if its worker dies, and waits live in Postgres rather than in broker ETAs.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from app.delivery import channels
from app.kit.db import Database
from app.kit.jobs import Job
from app.kit.logs import configure as configure_logging
from app.kit.runtime import tune_garbage_collector
from app.kit.settings import Settings, get_settings
from app.worker.priority import yield_cpu
from app.worker.registry import TaskContext, TaskSpec, load_all

_state: dict[str, Any] = {}
# Periodic tasks whose interval is a setting rather than the registry's default.
_EVERY_SETTING = {"campaigns.tick": "planner_tick_s"}


class CelerySink:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def send(self, job: Job) -> None:
        spec = load_all()[job.name]
        self.celery.send_task(job.name, kwargs=job.kwargs, queue=spec.queue, countdown=job.delay_s or None)


def _context() -> TaskContext:
    if "ctx" not in _state:
        database = Database(get_settings())
        _state["ctx"] = TaskContext(database=database, sink=CelerySink(_state["celery"]))
    return _state["ctx"]


def _register(celery: Celery, spec: TaskSpec) -> None:
    def run(**kwargs: Any) -> Any:
        return spec.fn(_context(), **kwargs)

    run.__name__ = spec.name.replace(".", "_")
    celery.task(name=spec.name, queue=spec.queue)(run)


def _every(spec: TaskSpec, settings: Settings) -> float | None:
    setting = _EVERY_SETTING.get(spec.name)
    return float(getattr(settings, setting)) if setting else spec.every_s


def create_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    if settings.broker_url is None:
        raise RuntimeError("NUDGE_BROKER_URL is not set: embedded mode runs tasks in-process")
    configure_logging(settings.log_level)
    celery = Celery("nudge", broker=settings.broker_url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="default",
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Redelivery of an unacknowledged task waits this long: above the longest task.
        broker_transport_options={"visibility_timeout": 3600},
        task_time_limit=1800,
        task_soft_time_limit=1500,
        # Results are not read; tasks report through the database.
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            spec.name: {
                "task": spec.name,
                "schedule": _every(spec, settings),
                "options": {"queue": spec.queue},
            }
            for spec in load_all().values()
            if spec.every_s
        },
    )
    _state["celery"] = celery
    for spec in load_all().values():
        _register(celery, spec)
    return celery


@signals.worker_process_init.connect
def _tune_pool_process(**_: Any) -> None:
    """Background work gives way to API requests on a shared machine (``NUDGE_WORKER_NICE``).

    What a worker process has imported lives as long as it does: moved out of the cycle
    collector's view, the collections a task's many short-lived objects trigger no longer walk
    it (a dispatch chunk spent about a fifth of its CPU there). A chunk also makes tens of
    thousands of short-lived containers: at the default young-generation threshold they cost
    dozens of collections per chunk, a few µs per message."""
    yield_cpu(get_settings().worker_nice)
    tune_garbage_collector()


@signals.worker_process_shutdown.connect
def _dispose(**_: Any) -> None:
    channels.close_all()
    ctx = _state.pop("ctx", None)
    if ctx is not None:
        ctx.database.dispose()
