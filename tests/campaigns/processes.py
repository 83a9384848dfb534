"""Real processes for the reliability tests: a private redis-server (never the shared one) and
Celery workers started the way production starts them, killable with SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import redis

from app.kit.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server without persistence: a restart loses every queued task."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


_WORKER = (
    "from app.worker.celery_app import create_celery;"
    "create_celery().worker_main(['worker', '--loglevel=WARNING', '--concurrency=2',"
    " '-Q', 'default,dispatch', '--without-mingle', '--without-gossip', '-P', 'prefork'])"
)


class Worker:
    """``nudge worker`` in its own process group, so SIGKILL takes the pool children too;
    ``imports`` are modules it imports first (say, to break a channel)."""

    def __init__(self, env: dict[str, str], log: Path, *, imports: tuple[str, ...] = ()) -> None:
        self.env = env
        self.log = log
        self.code = "".join(f"import {module};" for module in imports) + _WORKER
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", self.code],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def supervise(self) -> bool:
        """Start the worker again if it exited, as a process supervisor would; True if it had."""
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None
            self.start()
            return True
        return False

    def kill(self) -> None:
        """kill -9, the whole process group (a machine losing power, as far as Nudge knows)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None


def worker_env(settings: Settings, *, broker: str, sink: Path) -> dict[str, str]:
    assert settings.secret_key is not None
    return {
        "NUDGE_DATABASE_URL": settings.database_url,
        "NUDGE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "NUDGE_BROKER_URL": broker,
        "NUDGE_CHANNELS_TO_LOG": "true",
        "NUDGE_LOG_CHANNEL_PATH": str(sink),
        "NUDGE_DISPATCH_LEASE_S": str(settings.dispatch_lease_s),
        "NUDGE_DISPATCH_STALL_S": str(settings.dispatch_stall_s),
        "NUDGE_DISPATCH_CHUNK_SIZE": str(settings.dispatch_chunk_size),
        "NUDGE_DISPATCH_LANES": str(settings.dispatch_lanes),
        "NUDGE_DISPATCH_MAX_CRASHES": str(settings.dispatch_max_crashes),
    }


def sink_lines(path: Path) -> tuple[Counter[str], int]:
    """Delivery ids seen by the log sink (with repeats) and how many lines were torn by a kill."""
    seen: Counter[str] = Counter()
    torn = 0
    if not path.exists():
        return seen, torn
    for line in path.read_bytes().split(b"\n"):
        if not line:
            continue
        try:
            seen[orjson.loads(line)["delivery_id"]] += 1
        except orjson.JSONDecodeError:
            torn += 1
    return seen, torn
