"""Ingest throughput: HTTP batch ingest against raw COPY, and single-user upsert latency.

Creates and migrates a fresh Postgres database, starts the API as real uvicorn processes
(``nudge serve``), then measures, in one run:

1. events/s through ``POST /v1/events/batch`` (1,000 events a request, several concurrent
   clients, bodies encoded before the clock starts) with everything on: API-key auth, unknown
   users created, every event carrying a ``message_id`` (about 1% of them re-sent, so
   deduplication does real work);
2. rows/s of COPYing the same rows into the same table (as the owner, one connection);
3. p50/p99 latency of ``PUT /v1/users/{id}`` at 200 concurrent requests.

The client is one asyncio process with aiohttp; its CPU share during the HTTP phase is
reported (``client_cpu_share``, in cores) to show it is not the bottleneck. The database is
dropped at the end. Prints one final JSON line.

    python bench/ingest.py [--quick] [--workers 2] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import psycopg
import redis

from app.kit.db import Database
from app.kit.ids import uuid7
from app.kit.migrate import upgrade
from app.kit.settings import Settings
from app.models import KeyKind
from app.workspaces.service import create as create_workspace

ROOT = Path(__file__).resolve().parents[1]

ADMIN_URL = os.environ.get("NUDGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("NUDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
SECRET = "bench-secret-key-" + "x" * 40
BATCH = 1000
DUPLICATE_SHARE = 0.01
NEW_USER_SHARE = 0.05
WARMUP_CHUNK = 5  # batches
EVENT_NAMES = ("screen_view", "button_click", "purchase", "session_start", "level_up")
SCREENS = ("home", "search", "cart", "settings", "profile", "checkout")


@dataclass(frozen=True)
class Scale:
    requests: int  # measured batches
    known_users: int  # users the warm-up creates before the clock starts
    upserts: int
    upsert_concurrency: int = 200


FULL = Scale(requests=1200, known_users=50_000, upserts=6000)
QUICK = Scale(requests=60, known_users=5_000, upserts=1000)


# --- database and server -------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    name = f"nudge_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(_sqlalchemy_url(url))
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_workspace(settings: Settings) -> tuple[uuid.UUID, str]:
    database = Database(settings)
    with database.transaction() as session:
        workspace, keys = create_workspace(session, name="Bench")
    database.dispose()
    return workspace.id, keys[KeyKind.secret]


@contextlib.contextmanager
def isolated_broker() -> Iterator[str]:
    """A Redis database for the run's hand-off jobs; the queues it filled are deleted after."""
    number = random.randint(1, 15)
    client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
    before = set(client.keys())
    try:
        yield f"{REDIS_URL}/{number}"
    finally:
        created = set(client.keys()) - before
        if created:
            client.delete(*created)
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base: str
    process_group: int


@contextlib.contextmanager
def running_server(env: dict[str, str], workers: int, log: Path, app_root: Path) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=app_root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log)
        yield Server(base, process.pid)
    except BaseException:
        sys.stderr.write(log.read_text(errors="replace")[-5000:])
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not ready after 60 s:\n{log.read_text()}")


# --- CPU accounting ------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _group_pids(process_group: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == process_group:
                    pids.append(int(entry.name))
    return pids


def _backend_pids(url: str) -> list[int]:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
    return [pid for (pid,) in rows]


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The measuring client's own garbage collector off while it sends: latencies count from
    each request's planned start, so a full collection over the run's bookkeeping (about 70 ms
    of the client's event loop) was charged to the server, as a burst of slow answers."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def _host_ticks() -> tuple[int, int]:
    """(steal, total) CPU ticks of the whole machine since boot; (0, 0) where the kernel does
    not publish them."""
    try:
        with open("/proc/stat") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


class StealMeter:
    """The share of the machine's CPU time its host gave to other guests ("steal") between
    enter and exit. Latencies and rates move with it, CPU per request much less: a figure
    measured at 20 % steal is not the machine's own."""

    share = 0.0

    def __enter__(self) -> StealMeter:
        self.start = _host_ticks()
        return self

    def __exit__(self, *_: object) -> None:
        steal, total = _host_ticks()
        self.share = round((steal - self.start[0]) / max(1, total - self.start[1]), 3)


class CpuMeter:
    """CPU seconds spent by the API processes and by the database's backends between two reads.

    On a shared machine wall-clock rates move with other load; CPU per event does much less.
    """

    def __init__(self, server: Server, url: str) -> None:
        self.server, self.url = server, url
        self.start: dict[int, float] = {}

    def _snapshot(self) -> dict[int, float]:
        pids = [*_group_pids(self.server.process_group), *(-p for p in _backend_pids(self.url))]
        return {pid: _cpu_seconds(abs(pid)) for pid in pids}

    def __enter__(self) -> CpuMeter:
        self.start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._snapshot()
        spent = {pid: seconds - self.start.get(pid, 0.0) for pid, seconds in end.items()}
        self.api = sum(v for pid, v in spent.items() if pid > 0)
        self.database = sum(v for pid, v in spent.items() if pid < 0)


# --- workload ------------------------------------------------------------------------------


def external_id(n: int) -> str:
    return f"user-{n:07d}"


class Workload:
    """Events as a live app sends them: times move forward, about 1% re-send an event of an
    earlier batch, and a share of events come from users never seen before."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.users = 0  # users introduced so far: external ids 0 .. users-1
        self.sequence = 0
        self.start = datetime.now(UTC) - timedelta(hours=2)
        self.sent: list[dict[str, object]] = []

    def batches(self, count: int, new_user_share: float) -> list[list[dict[str, object]]]:
        return [self._batch(new_user_share) for _ in range(count)]

    def _batch(self, new_user_share: float) -> list[dict[str, object]]:
        rng, batch = self.rng, []
        for _ in range(BATCH):
            if self.sent and rng.random() < DUPLICATE_SHARE:
                batch.append(rng.choice(self.sent))
                continue
            if self.users == 0 or rng.random() < new_user_share:
                self.users += 1
                user = self.users - 1
            else:
                user = rng.randrange(self.users)
            self.sequence += 1
            batch.append(
                {
                    "user_id": external_id(user),
                    "name": rng.choice(EVENT_NAMES),
                    "timestamp": (self.start + timedelta(milliseconds=self.sequence * 3)).isoformat(),
                    "properties": {
                        "screen": rng.choice(SCREENS),
                        "duration_ms": rng.randrange(10, 60_000),
                        "revenue": round(rng.random() * 100, 2),
                        "first_time": rng.random() < 0.1,
                    },
                    "message_id": f"m-{self.sequence}",
                }
            )
        self.sent.extend(batch[:: BATCH // 10])
        return batch


def message_ids(batches: list[list[dict[str, object]]]) -> list[object]:
    return [event["message_id"] for batch in batches for event in batch]


def expected_outcome(batches: list[list[dict[str, object]]], stored: set[object]) -> tuple[int, int]:
    """(accepted, duplicates) the server must report for ``batches`` sent in any order after the
    events whose message ids are ``stored``."""
    sent = message_ids(batches)
    accepted = len(set(sent) - stored)
    return accepted, len(sent) - accepted


# --- HTTP phases ---------------------------------------------------------------------------


async def post_batches(base: str, key: str, bodies: list[bytes], clients: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    pending = iter(bodies)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as http:

        async def client() -> None:
            for body in pending:
                async with http.post("/v1/events/batch", data=body) as response:
                    payload = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"batch answered {response.status}: {payload[:500]!r}")
                result = orjson.loads(payload)
                for name in totals:
                    totals[name] += result[name]

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {**totals, "seconds": wall, "client_cpu_share": cpu / wall}


async def upsert_latencies(
    base: str, key: str, users: int, count: int, concurrency: int, seed: int = 11
) -> tuple[list[float], int, float]:
    """``count`` PUT /v1/users/{id} with ``concurrency`` in flight; about half the ids are new.
    Returns the latencies of the answered ones, how many failed, and the seconds taken."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    bodies = [
        (
            external_id(rng.randrange(users * 2)),
            orjson.dumps(
                {
                    "email": f"u{n}@example.com",
                    "timezone": rng.choice(("Europe/Berlin", "Asia/Kathmandu", "America/New_York")),
                    "attributes": {"plan": rng.choice(("free", "pro")), "score": n},
                }
            ),
        )
        for n in range(count)
    ]
    latencies: list[float] = []
    failures = 0
    pending = iter(bodies)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as http:

        async def client() -> None:
            nonlocal failures
            for user_id, body in pending:
                started = time.perf_counter()
                async with http.put(f"/v1/users/{user_id}", data=body) as response:
                    await response.read()
                if response.status in (200, 201):
                    latencies.append(time.perf_counter() - started)
                else:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return latencies, failures, seconds


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# --- COPY phase ----------------------------------------------------------------------------


def copy_text(
    workspace_id: uuid.UUID, batches: list[list[dict[str, object]]], user_ids: dict[str, str]
) -> bytes:
    """The HTTP phase's rows in COPY text format, with fresh ids and message ids."""
    received = datetime.now(UTC).isoformat()
    ws = str(workspace_id)
    lines = []
    for batch in batches:
        for event in batch:
            properties = orjson.dumps(event["properties"]).decode().replace("\\", "\\\\")
            lines.append(
                "\t".join(
                    (
                        ws,
                        str(uuid7()),
                        user_ids[str(event["user_id"])],
                        str(event["name"]),
                        str(event["timestamp"]),
                        received,
                        properties,
                        f"copy-{event['message_id']}-{len(lines)}",
                    )
                )
            )
    return ("\n".join(lines) + "\n").encode()


def copy_rows(url: str, data: bytes, rows: int) -> tuple[float, float]:
    """Rows/s of one COPY of ``data`` into events, committed (owner connection: no RLS), and
    the backend's CPU microseconds per row."""
    columns = "workspace_id, id, user_id, name, occurred_at, received_at, properties, message_id"
    with psycopg.connect(url) as conn:
        backend = conn.info.backend_pid
        cpu, started = _cpu_seconds(backend), time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        conn.commit()
        seconds, cpu = time.perf_counter() - started, _cpu_seconds(backend) - cpu
        stored = conn.execute("SELECT count(*) FROM events WHERE message_id LIKE 'copy-%%'").fetchone()
    assert stored is not None and stored[0] == rows, (stored, rows)
    return rows / seconds, cpu / rows * 1e6


def user_id_map(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {external: str(id_) for external, id_ in conn.execute("SELECT external_id, id FROM users")}


def stored_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    assert row is not None
    return int(row[0])


# --- run -----------------------------------------------------------------------------------


def analyze(url: str) -> None:
    """Fresh statistics, as autovacuum keeps them in a running system (plans depend on them)."""
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute("ANALYZE")


def run(scale: Scale, workers: int, clients: int, app_root: Path) -> dict[str, object]:
    workload = Workload()
    warmup = workload.batches(scale.known_users // BATCH, new_user_share=1.0)
    measured = workload.batches(scale.requests, NEW_USER_SHARE)
    bodies = [orjson.dumps({"events": batch}) for batch in measured]
    stored_before = set(message_ids(warmup))
    accepted, duplicates = expected_outcome(measured, stored_before)
    with fresh_database() as url, isolated_broker() as broker, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=_sqlalchemy_url(url), secret_key=SECRET, broker_url=broker)
        workspace_id, key = make_workspace(settings)
        env = {
            **os.environ,
            "NUDGE_DATABASE_URL": settings.database_url,
            "NUDGE_SECRET_KEY": SECRET,
            "NUDGE_BROKER_URL": broker,
            "NUDGE_LOG_LEVEL": "warning",
        }
        with running_server(env, workers, Path(tmp) / "server.log", app_root) as server:
            base = server.base
            # In chunks with ANALYZE after each, as autovacuum would while users grows from
            # nothing: a backend plans its foreign-key check once, and planned while users was
            # empty it scans the whole table for every event until statistics change.
            for start in range(0, len(warmup), WARMUP_CHUNK):
                chunk = [orjson.dumps({"events": b}) for b in warmup[start : start + WARMUP_CHUNK]]
                asyncio.run(post_batches(base, key, chunk, clients))
                analyze(url)
            with CpuMeter(server, url) as cpu:
                http = asyncio.run(post_batches(base, key, bodies, clients))
            if (http["accepted"], http["duplicates"], http["rejected"]) != (accepted, duplicates, 0):
                raise RuntimeError(f"server reported {http}, expected {accepted} accepted, {duplicates} dups")
            if stored_events(url) != accepted + len(stored_before):
                raise RuntimeError("stored event count does not match the accepted count")
            data = copy_text(workspace_id, measured, user_id_map(url))
            copy_per_s, copy_cpu_us = copy_rows(url, data, scale.requests * BATCH)
            concurrency = scale.upsert_concurrency
            asyncio.run(upsert_latencies(base, key, workload.users, 400, concurrency, seed=5))  # warm-up
            latencies, upsert_failures, upsert_seconds = asyncio.run(
                upsert_latencies(base, key, workload.users, scale.upserts, concurrency)
            )
    events = scale.requests * BATCH
    http_per_s = events / http["seconds"]
    return {
        "bench": "ingest",
        "http_events_per_s": round(http_per_s),
        "copy_rows_per_s": round(copy_per_s),
        "http_to_copy_ratio": round(http_per_s / copy_per_s, 3),
        "upsert_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "upsert_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "upserts_per_s": round(scale.upserts / upsert_seconds),
        "upsert_failures": upsert_failures,
        "api_cpu_us_per_event": round(cpu.api / events * 1e6, 1),
        "db_cpu_us_per_event": round(cpu.database / events * 1e6, 1),
        "copy_cpu_us_per_row": round(copy_cpu_us, 1),
        "client_cpu_share": round(http["client_cpu_share"], 3),
        "events": events,
        "duplicates": int(http["duplicates"]),
        "users": workload.users,
        "new_user_share": NEW_USER_SHARE,
        "clients": clients,
        "workers": workers,
        "quick": scale is QUICK,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--clients", type=int, default=8, help="concurrent batch clients")
    parser.add_argument(
        "--app-root",
        type=Path,
        default=ROOT,
        help="serve the API from this checkout (a baseline); run with PYTHONPATH=ROOT so the "
        "schema is migrated by the same checkout",
    )
    args = parser.parse_args()
    result = run(QUICK if args.quick else FULL, args.workers, args.clients, args.app_root)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
