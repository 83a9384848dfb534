"""The embedded worker and scheduler: with no broker configured, ``nudge serve`` runs tasks on
background threads in the API process, from the same registry the Celery worker uses."""

from __future__ import annotations

import logging
import queue
import threading
import time

from app.kit.db import Database
from app.kit.jobs import Job
from app.worker.registry import TaskContext, load_all

log = logging.getLogger(__name__)


class InProcessWorker:
    def __init__(self, database: Database, *, threads: int = 2) -> None:
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ctx = TaskContext(database=database, sink=self)
        self._tasks = load_all()
        self._threads = threads
        self._stop = threading.Event()
        self._running: list[threading.Thread] = []

    def send(self, job: Job) -> None:
        if job.name not in self._tasks:
            raise KeyError(f"unknown task {job.name!r}")
        if job.delay_s > 0:
            timer = threading.Timer(job.delay_s, self._queue.put, [Job(job.name, job.kwargs)])
            timer.daemon = True
            timer.start()
            return
        self._queue.put(job)

    def start(self) -> None:
        for i in range(self._threads):
            self._spawn(self._work, f"nudge-worker-{i}")
        self._spawn(self._schedule, "nudge-scheduler")

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for _ in range(self._threads):
            self._queue.put(None)
        for thread in self._running:
            thread.join(timeout)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued job has run (tests and CLI use it)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def run_now(self, job: Job) -> object:
        return self._tasks[job.name].fn(self._ctx, **job.kwargs)

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._running.append(thread)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self.run_now(job)
            except Exception:
                log.exception("task %s failed", job.name if job else "?")
            finally:
                self._queue.task_done()

    def _schedule(self) -> None:
        due = {spec.name: time.monotonic() + spec.every_s for spec in self._tasks.values() if spec.every_s}
        while not self._stop.wait(1.0):
            now = time.monotonic()
            for name, at in due.items():
                if now >= at:
                    self.send(Job(name))
                    due[name] = now + (self._tasks[name].every_s or 0)
