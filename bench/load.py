"""Mixed API traffic at a steady rate while a campaign dispatches.

Creates and migrates a fresh Postgres database with a workspace of users, starts the API as
real uvicorn processes (``nudge serve``), a Celery worker and its own redis-server, launches
an in-app campaign to every user (throttled so it dispatches for the whole run, filling the
inboxes being read), and then sends, open-loop at a fixed rate whatever the answers' speed:

- ``batch``: ``POST /v1/events/batch`` with 100 events;
- ``track``: ``POST /v1/events``, one event with a ``message_id``;
- ``upsert``: ``PUT /v1/users/{id}``;
- ``inbox``: ``GET /v1/inbox`` with the publishable key and the user's signature;
- ``content``: ``GET /v1/content`` for a user, only if the API publishes that route.

The same traffic runs for 5 s first (fresh connections, cold caches, every user's first rollup
row of the week) and is reported apart as ``warmup``; the figures are the steady state after.
Latency is measured from each request's scheduled start, so a server falling behind shows in
the percentiles instead of slowing the client down. Every non-2xx answer and transport error
(including the client's 30 s time-out) counts as an error; requests not sent because
400 were already waiting count as ``skipped`` (the server is far behind the rate). Afterwards
the stored events are checked against the accepted ones (the warm-up's included).

    python bench/load.py             # 300 requests/s for 180 s
    python bench/load.py --quick     # 20 s
    python bench/load.py --rate 150 --seconds 60

Then, as the baseline of the same run, ``GET /healthz`` (no database, no auth) through the same
server at the same rate for up to 20 s: what the server and the machine allow before Nudge's own
work per request.

Prints per-kind figures on stderr and one final JSON line: bench, rps, p50_ms, p99_ms (single-item
calls), errors, per-kind counts and percentiles, ``warmup``, ``host_steal_share`` and
``baseline_healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth.user_signature import user_signature  # noqa: E402
from app.campaigns import planner, service  # noqa: E402
from app.campaigns.schemas import CampaignCreate  # noqa: E402
from app.kit.db import Database  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.models import KeyKind  # noqa: E402
from app.worker.celery_app import CelerySink, create_celery  # noqa: E402
from app.workspaces.service import create as create_workspace  # noqa: E402
from bench.dispatch import copy_users  # noqa: E402
from bench.ingest import (  # noqa: E402
    SECRET,
    CpuMeter,
    Server,
    StealMeter,
    _sqlalchemy_url,
    collector_paused,
    fresh_database,
    percentile,
    running_server,
)
from tests.campaigns.processes import RedisServer, Worker, free_port, worker_env  # noqa: E402

# Share of requests per kind (content joins only when the route exists).
MIX = {"batch": 0.05, "track": 0.35, "upsert": 0.30, "inbox": 0.20, "content": 0.10}
SINGLE = ("track", "upsert", "inbox", "content")
BATCH_EVENTS = 100
MAX_IN_FLIGHT = 400
# Before the measured window, the same traffic for this long, reported apart as ``warmup``: new
# connections plan their statements, caches fill, and every user's first event of the week
# creates its rollup row (concurrent firsts of one user wait for each other).
WARMUP_S = 5.0


@dataclass
class Scale:
    rate: float
    seconds: float
    users: int


FULL = Scale(rate=300, seconds=180, users=60_000)
QUICK = Scale(rate=300, seconds=20, users=10_000)


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: dict[str, str] = field(default_factory=dict)  # first error of each kind
    events_accepted: int = 0
    skipped: int = 0  # not sent: MAX_IN_FLIGHT requests were already waiting
    elapsed: float = 0.0


class Traffic:
    """The requests of each kind, built from a seeded random stream."""

    def __init__(self, settings: Settings, workspace_id: uuid.UUID, users: int, kinds: list[str]) -> None:
        self.settings, self.workspace_id, self.users = settings, workspace_id, users
        self.rng = random.Random(17)
        self.kinds = kinds
        self.weights = [MIX[k] for k in kinds]
        self.sequence = 0

    def user(self) -> str:
        return f"user-{self.rng.randrange(self.users)}"

    def next(self) -> tuple[str, str, str, bytes | None, dict[str, str]]:
        """(kind, method, path, body, extra headers)"""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        self.sequence += 1
        if kind == "batch":
            events = [self._event() for _ in range(BATCH_EVENTS)]
            return kind, "POST", "/v1/events/batch", orjson.dumps({"events": events}), {}
        if kind == "track":
            return kind, "POST", "/v1/events", orjson.dumps(self._event()), {}
        if kind == "upsert":
            body = {"attributes": {"score": self.sequence, "plan": self.rng.choice(("free", "pro"))}}
            return kind, "PUT", f"/v1/users/{self.user()}", orjson.dumps(body), {}
        user = self.user()
        signed = {"X-Nudge-User": user, "X-Nudge-User-Signature": self._signature(user)}
        if kind == "inbox":
            return kind, "GET", "/v1/inbox?limit=20", None, signed
        return kind, "GET", "/v1/content", None, signed

    def _event(self) -> dict[str, object]:
        self.sequence += 1
        return {
            "user_id": self.user(),
            "name": self.rng.choice(("screen_view", "button_click", "purchase")),
            "message_id": f"load-{self.sequence}",
            "properties": {"screen": self.rng.choice(("home", "cart", "search")), "n": self.sequence},
        }

    def _signature(self, user: str) -> str:
        return user_signature(self.settings, self.workspace_id, user)


class Liveness:
    """The baseline: ``GET /healthz`` (no database) through the same server at the same rate."""

    def next(self) -> tuple[str, str, str, bytes | None, dict[str, str]]:
        return "healthz", "GET", "/healthz", None, {}


async def _one(
    http: aiohttp.ClientSession,
    tally: Tally,
    keys: dict[str, str],
    request: tuple[str, str, str, bytes | None, dict[str, str]],
    scheduled: float,
) -> None:
    kind, method, path, body, extra = request
    key = keys["publishable"] if kind in ("inbox", "content") else keys["secret"]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **extra}
    try:
        async with http.request(method, path, data=body, headers=headers) as response:
            payload = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.errors[kind] += 1
        tally.samples.setdefault(kind, repr(exc))
        return
    if 200 <= status < 300:
        tally.latencies[kind].append(time.perf_counter() - scheduled)
        if kind == "batch":
            tally.events_accepted += orjson.loads(payload)["accepted"]
        elif kind == "track":
            tally.events_accepted += 1
    else:
        tally.errors[kind] += 1
        tally.samples.setdefault(kind, f"{status}: {payload[:300]!r}")


async def drive(
    base: str, keys: dict[str, str], traffic: Traffic | Liveness, rate: float, seconds: float
) -> Tally:
    """Open loop: request n starts at n / rate seconds, whatever came back before it."""
    tally = Tally()
    in_flight: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:
        with collector_paused():
            start = time.perf_counter()
            total = int(rate * seconds)
            for n in range(total):
                scheduled = start + n / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if len(in_flight) >= MAX_IN_FLIGHT:
                    tally.skipped += 1
                    continue
                task = asyncio.create_task(_one(http, tally, keys, traffic.next(), scheduled))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.gather(*in_flight)
            tally.elapsed = time.perf_counter() - start
    return tally


async def _published_paths(base: str) -> set[str]:
    async with aiohttp.ClientSession(base) as http, http.get("/openapi.json") as response:
        return set((await response.json())["paths"])


def _ms(values: list[float], share: float) -> float | None:
    return round(percentile(values, share) * 1000, 1) if values else None


def _launch_campaign(database: Database, workspace_id: uuid.UUID, per_minute: int) -> list:
    body = {
        "name": "Load",
        "channel": "in_app",
        "audience": {"type": "all"},
        "variants": [{"key": "A", "content": {"title": "Hi {{ user.first_name }}", "body": "Sale"}}],
        "schedule": {"type": "immediate"},
        "limits": {"per_minute": per_minute},
    }
    with database.transaction(workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(body))
        _campaign, jobs = service.launch(session, campaign.id, now=datetime.now(UTC))
    return jobs


def _delivered(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0]


def _stored_events(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def run(scale: Scale, workers: int, app_root: Path = ROOT) -> dict[str, object]:
    with fresh_database() as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        redis_server = RedisServer(free_port(), workdir)
        redis_server.start()
        settings = Settings(database_url=_sqlalchemy_url(url), secret_key=SECRET, broker_url=redis_server.url)
        database = Database(settings)
        worker = Worker(
            worker_env(settings, broker=redis_server.url, sink=workdir / "sink"), workdir / "worker.log"
        )
        worker.env.pop("NUDGE_CHANNELS_TO_LOG")  # in-app messages land in the inboxes being read
        try:
            with database.transaction() as session:
                workspace, created = create_workspace(session, name="Load")
            keys = {"secret": created[KeyKind.secret], "publishable": created[KeyKind.publishable]}
            copy_users(url, workspace.id, scale.users)
            env = {
                **os.environ,
                "NUDGE_DATABASE_URL": settings.database_url,
                "NUDGE_SECRET_KEY": SECRET,
                "NUDGE_BROKER_URL": redis_server.url,
                "NUDGE_LOG_LEVEL": "warning",
            }
            with running_server(env, workers, workdir / "server.log", app_root) as server:
                paths = asyncio.run(_published_paths(server.base))
                kinds = [k for k in MIX if k != "content" or "/v1/content" in paths]
                traffic = Traffic(settings, workspace.id, scale.users, kinds)
                worker.start()
                celery = CelerySink(create_celery(settings))
                # Throttled to last the whole run: dispatch is under way from start to end.
                per_minute = max(60, int(scale.users / (scale.seconds / 60)))
                for job in _launch_campaign(database, workspace.id, per_minute):
                    celery.send(job)
                time.sleep(3.0)  # the worker connects and dispatch starts before the clock
                warmup = asyncio.run(drive(server.base, keys, traffic, scale.rate, WARMUP_S))
                delivered_before = _delivered(url)
                ticking = True

                async def beat() -> None:  # the beat's tick, as in production
                    while ticking:
                        await asyncio.to_thread(
                            planner.tick,
                            database,
                            settings,
                            lambda js: [celery.send(j) for j in js],
                            now=datetime.now(UTC),
                        )
                        await asyncio.sleep(5.0)

                async def measured() -> Tally:
                    nonlocal ticking
                    ticker = asyncio.create_task(beat())
                    try:
                        return await drive(server.base, keys, traffic, scale.rate, scale.seconds)
                    finally:
                        ticking = False
                        await ticker

                cpu0 = time.process_time()
                assert worker.proc is not None
                with (
                    CpuMeter(server, url) as cpu,
                    CpuMeter(Server("", worker.proc.pid), url) as worker_cpu,
                    StealMeter() as steal,
                ):
                    tally = asyncio.run(measured())
                client_cpu = time.process_time() - cpu0
                delivered = _delivered(url) - delivered_before
                stored = _stored_events(url)
                baseline = asyncio.run(
                    drive(server.base, keys, Liveness(), scale.rate, min(scale.seconds, 20))
                )
        finally:
            worker.stop()
            database.dispose()
            redis_server.stop()
    spent = {"api": cpu.api, "database": cpu.database, "worker": worker_cpu.api, "client": client_cpu}
    tally.events_accepted += warmup.events_accepted  # stored is every event, the warm-up's too
    report = _report(scale, tally, kinds, delivered, stored, spent, workers)
    warm = [x for k in SINGLE for x in warmup.latencies.get(k, [])]
    report["warmup"] = {
        "seconds": WARMUP_S,
        "p50_ms": _ms(warm, 0.50),
        "p99_ms": _ms(warm, 0.99),
        "errors": sum(warmup.errors.values()),
    }
    report["host_steal_share"] = steal.share
    live = baseline.latencies.get("healthz", [])
    report["baseline_healthz"] = {
        "rps": round(len(live) / baseline.elapsed, 1),
        "p50_ms": _ms(live, 0.50),
        "p99_ms": _ms(live, 0.99),
        "errors": sum(baseline.errors.values()),
        "skipped": baseline.skipped,
    }
    return report


def _report(
    scale: Scale,
    tally: Tally,
    kinds: list[str],
    delivered: int,
    stored: int,
    spent: dict[str, float],
    workers: int,
) -> dict[str, object]:
    elapsed = tally.elapsed
    answered = sum(len(v) for v in tally.latencies.values())
    errors = sum(tally.errors.values())
    single = [x for k in SINGLE for x in tally.latencies.get(k, [])]
    per_kind = {
        k: {
            "count": len(tally.latencies.get(k, [])),
            "errors": tally.errors.get(k, 0),
            "p50_ms": _ms(tally.latencies.get(k, []), 0.50),
            "p99_ms": _ms(tally.latencies.get(k, []), 0.99),
        }
        for k in kinds
    }
    for kind, sample in tally.samples.items():
        print(f"first {kind} error: {sample}", file=sys.stderr)
    print(json.dumps(per_kind, indent=1), file=sys.stderr)
    return {
        "bench": "load",
        "rps": round(answered / elapsed, 1),
        "target_rps": scale.rate,
        "p50_ms": _ms(single, 0.50),
        "p99_ms": _ms(single, 0.99),
        "errors": errors,
        "skipped": tally.skipped,
        "seconds": round(elapsed, 1),
        "kinds": per_kind,
        "events_accepted": tally.events_accepted,
        "events_lost": tally.events_accepted - stored,
        "deliveries_during_run": delivered,
        "deliveries_per_s": round(delivered / elapsed, 1),
        "users": scale.users,
        "api_workers": workers,
        # CPU seconds per second of run (2 cores = 2.0): who used the machine. The database's
        # share includes the dispatching worker's statements.
        "cpu_share": {name: round(seconds / elapsed, 2) for name, seconds in spent.items()},
        "api_cpu_ms_per_request": round(spent["api"] / max(1, answered) * 1000, 2),
        # Includes the dispatching worker's statements (the same campaign in every run).
        "db_cpu_ms_per_request": round(spent["database"] / max(1, answered) * 1000, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 20 s run")
    parser.add_argument("--rate", type=float, help="requests per second (default 300)")
    parser.add_argument("--seconds", type=float, help="length of the measured run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--app-root", type=Path, default=ROOT, help="serve the API from this checkout (a baseline)"
    )
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    scale = Scale(args.rate or scale.rate, args.seconds or scale.seconds, scale.users)
    print(json.dumps(run(scale, args.workers, args.app_root)))


if __name__ == "__main__":
    main()
