"""The production topology started by hand: ``nudge serve`` (with a broker, so no in-process
worker), ``nudge worker`` and ``nudge beat`` as separate real processes against a fresh Postgres
database and a Redis database of their own, on free ports, each logging to its own file.

Use: ``running(folder)`` (or the ``topology`` fixture) starts it; ``create_workspace`` and
``client`` go through the CLI and the API as an operator would; ``query`` reads the database as
its owner; ``wait_until`` polls. Fault-injection tests use ``kill`` (SIGKILL to the whole
process group, pool children included) and ``restart`` (optionally with extra arguments);
``logs`` is what to print when a test fails (the ``topology`` fixture adds it to the report).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import redis
from sqlalchemy import create_engine, text

from tests.fixtures.databases import (
    PG_ADMIN_URL,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
)

SHARED_REDIS = "redis://127.0.0.1:6379"
_CLAIM_KEY = "nudge:topology:claim"
_CLAIM_TTL_S = 6 * 3600
NUDGE = [sys.executable, "-m", "app"]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def claim_redis_db(server: str = SHARED_REDIS) -> tuple[str, str]:
    """An empty database number on a shared Redis, claimed with a marker key (SET NX) so two
    runs never share one; returns its URL and the claim token. Nothing here flushes anything."""
    token = secrets.token_hex(8)
    for number in sorted(range(1, 16), key=lambda _: secrets.randbelow(1000)):
        client = redis.Redis.from_url(f"{server}/{number}")
        try:
            if client.dbsize() == 0 and client.set(_CLAIM_KEY, token, nx=True, ex=_CLAIM_TTL_S):
                return f"{server}/{number}", token
        finally:
            client.close()
    raise RuntimeError(f"no empty Redis database left on {server}")


def release_redis_db(url: str, token: str) -> None:
    """Delete the keys this run made in its claimed database (never FLUSHDB: if the claim was
    lost, someone else's keys stay)."""
    client = redis.Redis.from_url(url)
    try:
        if client.get(_CLAIM_KEY) != token.encode():
            return
        for key in client.scan_iter(count=500):
            if key != _CLAIM_KEY.encode():
                client.delete(key)
        client.delete(_CLAIM_KEY)
    finally:
        client.close()


@dataclass
class Process:
    """One long-running ``nudge`` command in its own process group, logging to ``log``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    ready: Callable[[Process], bool]
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, extra_args: Sequence[str] = (), timeout: float = 60.0) -> None:
        """Start (``extra_args`` appended for this run only) and wait until ready."""
        assert not self.alive, f"{self.name} is already running"
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.argv, *extra_args],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready(self):
            if not self.alive:
                raise RuntimeError(f"{self.name} exited with {self.proc and self.proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s")
            time.sleep(0.2)

    def output(self) -> str:
        """The log written since the last start."""
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def kill(self) -> None:
        """kill -9 on the whole group: a machine losing power, as far as Nudge can tell."""
        if self.proc is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a graceful shutdown, as an orchestrator sends), then SIGKILL if it hangs."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


def wait_until(what: str, check: Callable[[], T | None], *, timeout: float = 120.0, every: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy, and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def _log_says(*needles: str) -> Callable[[Process], bool]:
    return lambda p: any(n in p.output() for n in needles)


def _answers(url: str) -> Callable[[Process], bool]:
    def check(_: Process) -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return check


@dataclass
class Topology:
    """api + worker + beat against their own Postgres database and Redis database.

    ``env`` adds or overrides ``NUDGE_*`` variables for every process; ``redis_url`` points
    at another Redis (e.g. a private ``redis-server`` a test may kill) instead of claiming one
    on the shared server; ``postgres_admin_url`` another Postgres server (e.g. a throwaway
    cluster a test restarts) to create the database on."""

    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    postgres_admin_url: str = PG_ADMIN_URL
    api_workers: int = 2
    worker_concurrency: int = 2
    database_url: str = ""
    api_port: int = 0
    worker_metrics_port: int = 0
    processes: dict[str, Process] = field(default_factory=dict)
    _redis_claim: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_metrics_port}/metrics"

    @property
    def process_env(self) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("NUDGE_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        return {
            **inherited,
            "NUDGE_DATABASE_URL": self.database_url,
            "NUDGE_SECRET_KEY": TEST_SECRET,
            "NUDGE_BROKER_URL": self.redis_url or "",
            "NUDGE_PUBLIC_BASE_URL": self.api_url,
            "NUDGE_WORKER_METRICS_PORT": str(self.worker_metrics_port),
            "NUDGE_LOG_LEVEL": "info",
            **self.env,
        }

    def start(self) -> None:
        """Create and migrate the database, then start api, worker and beat and wait until each
        is ready (api answers /readyz, the worker consumes, beat has started)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.redis_url is None:
            self.redis_url, self._redis_claim = claim_redis_db()
        self.database_url = create_postgres_database(self.postgres_admin_url)
        self.api_port, self.worker_metrics_port = free_port(), free_port()
        env = self.process_env
        specs = {
            "api": (
                ["serve", "--port", str(self.api_port), "--workers", str(self.api_workers)],
                _answers(f"{self.api_url}/readyz"),
            ),
            "worker": (
                ["worker", "--concurrency", str(self.worker_concurrency)],
                _log_says(" ready."),
            ),
            "beat": (["beat"], _log_says("beat: Starting")),
        }
        for name, (args, ready) in specs.items():
            self.processes[name] = Process(
                name, [*NUDGE, *args], env, self.folder, self.folder / f"{name}.log", ready
            )
        for process in self.processes.values():
            process.start()

    def kill(self, name: str) -> None:
        """kill -9 one process ("api", "worker" or "beat")."""
        self.processes[name].kill()

    def restart(self, name: str, *, extra_args: Sequence[str] = (), timeout: float = 60.0) -> None:
        """Start one process again (after a kill, or stop it gracefully first) and wait for it;
        ``extra_args`` are added to its command for this run (e.g. ``--queues default``)."""
        process = self.processes[name]
        process.stop()
        process.start(extra_args=extra_args, timeout=timeout)

    def cli(self, *args: str) -> str:
        """Run a one-shot ``nudge`` command (workspace create, key create...) with the same
        environment; returns its output, raising with it on failure."""
        done = subprocess.run(
            [*NUDGE, *args], env=self.process_env, cwd=self.folder, capture_output=True, timeout=120
        )
        output = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"nudge {' '.join(args)} failed ({done.returncode}):\n{output}")
        return output

    def create_workspace(self, name: str, *, timezone: str = "UTC") -> tuple[uuid.UUID, str]:
        """A workspace made with ``nudge workspace create``, and a secret key for it made with
        ``nudge key create`` (the CLI an operator uses); returns its id and the key."""
        made = re.search(
            r"^Workspace ([0-9a-f-]{36})$",
            self.cli("workspace", "create", name, "--timezone", timezone),
            re.M,
        )
        assert made, "no workspace id printed"
        workspace_id = uuid.UUID(made[1])
        key = re.search(
            r"^secret key \S+: (\S+)$", self.cli("key", "create", "--workspace", str(workspace_id)), re.M
        )
        assert key, "no key printed"
        return workspace_id, key[1]

    def client(self, secret: str) -> httpx.Client:
        """An HTTP client for the API, authenticated with ``secret`` (close it after use)."""
        return httpx.Client(base_url=self.api_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30)

    def query(self, sql: str, **params: object) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read as the database owner (not held by row-level security): a
        test's view of the ledger across workspaces."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def logs(self, tail: int = 80) -> str:
        """The last ``tail`` lines of every process's log, to show when a test fails."""
        parts = []
        for process in self.processes.values():
            lines = process.log.read_text(errors="replace").splitlines() if process.log.exists() else []
            parts.append(f"----- {process.name} ({process.log}) -----\n" + "\n".join(lines[-tail:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop every process (beat first, so it enqueues nothing more), drop the database and
        delete this run's Redis keys."""
        for name in ("beat", "api", "worker"):
            if name in self.processes:
                self.processes[name].stop()
        if self.database_url:
            drop_postgres_database(self.database_url, self.postgres_admin_url)
        if self.redis_url and self._redis_claim:
            release_redis_db(self.redis_url, self._redis_claim)


@contextmanager
def running(
    folder: Path,
    *,
    env: dict[str, str] | None = None,
    redis_url: str | None = None,
    postgres_admin_url: str = PG_ADMIN_URL,
    worker_concurrency: int = 2,
) -> Iterator[Topology]:
    """A started :class:`Topology` for the block, stopped after it; if starting or the block
    raises, every process's log tail is printed first."""
    topology = Topology(
        folder,
        env=env or {},
        redis_url=redis_url,
        postgres_admin_url=postgres_admin_url,
        worker_concurrency=worker_concurrency,
    )
    try:
        topology.start()
        yield topology
    except BaseException:
        print(topology.logs())
        raise
    finally:
        topology.stop()
