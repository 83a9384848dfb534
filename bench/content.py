"""Dynamic content latency: ``GET /v1/content`` at a fixed rate against a real server.

Creates and migrates a fresh Postgres database with one workspace of users (plans, countries,
a share of them buyers through tracked events) and variables of every kind: plain defaults,
rules on an attribute, on a saved event segment and on an inline field condition, and A/B
variants. Starts the API as real uvicorn processes (``nudge serve``), then sends requests
open-loop at ``--rate`` per second, each as an app would (publishable key, a random user's
signature; 5 % users the server does not know). Latency counts from each request's planned
start, so a client falling behind counts against the figures rather than hiding them.

In the same run, a baseline at the same rate: ``GET /healthz`` (no database, no auth), the
floor of the server and client on this machine. The client's CPU share is reported to show it
is not the bottleneck. Prints one final JSON line.

    python bench/content.py [--quick] [--rate 500] [--workers 2]

``measure_content(quick)`` returns those figures for other benchmarks to report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth.user_signature import user_signature  # noqa: E402
from app.channels.transport.http1 import Http1Pool, TransportError  # noqa: E402
from app.kit.db import Database  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.models import KeyKind  # noqa: E402
from app.workspaces.service import create as create_workspace  # noqa: E402
from bench.ingest import (  # noqa: E402
    SECRET,
    CpuMeter,
    StealMeter,
    _sqlalchemy_url,
    analyze,
    collector_paused,
    fresh_database,
    isolated_broker,
    percentile,
    running_server,
)

RATE = 500
UNKNOWN_SHARE = 0.05
BUYER_SHARE = 0.1


@dataclass(frozen=True)
class Scale:
    users: int
    seconds: float
    warmup_s: float


FULL = Scale(users=100_000, seconds=30.0, warmup_s=5.0)
QUICK = Scale(users=10_000, seconds=5.0, warmup_s=2.0)

PLAN = {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}
EUROPE = {"type": "field", "field": "country", "op": "in", "value": ["FR", "DE", "ES"]}
BOUGHT = {"type": "event", "name": "purchase", "did": True, "window": {"last_days": 30}}


def variables(buyers_segment: str) -> list[dict[str, object]]:
    rules_three = [
        {"segment_id": buyers_segment, "value": "Thanks for buying"},
        {"definition": {"version": 1, "match": PLAN}, "value": "Welcome back, pro"},
        {"definition": {"version": 1, "match": EUROPE}, "value": "Bonjour"},
    ]
    return [
        {"key": "banner_text", "type": "string", "default": "Hello", "rules": rules_three},
        {
            "key": "show_offer",
            "type": "boolean",
            "default": False,
            "rules": [{"definition": {"version": 1, "match": PLAN}, "value": True}],
        },
        {
            "key": "discount",
            "type": "number",
            "default": 0,
            "experiment": "spring",
            "variants": [
                {"key": "small", "weight": 1, "value": 10},
                {"key": "large", "weight": 1, "value": 25},
            ],
        },
        {
            "key": "offer_label",
            "type": "string",
            "default": "",
            "experiment": "spring",
            "variants": [
                {"key": "small", "weight": 1, "value": "10%"},
                {"key": "large", "weight": 1, "value": "25%"},
            ],
        },
        {
            "key": "onboarding",
            "type": "json",
            "default": {"steps": ["welcome", "profile", "notifications"]},
            "rules": [{"segment_id": buyers_segment, "value": {"steps": ["welcome"]}}],
        },
        *({"key": f"flag_{n}", "type": "boolean", "default": n % 2 == 0} for n in range(5)),
    ]


# --- setup ---------------------------------------------------------------------------------


def make_workspace(settings: Settings) -> tuple[str, str, str]:
    database = Database(settings)
    with database.transaction() as session:
        workspace, keys = create_workspace(session, name="Content bench")
    database.dispose()
    return str(workspace.id), keys[KeyKind.secret], keys[KeyKind.publishable]


def insert_users(url: str, workspace_id: str, count: int) -> None:
    """Users in SQL (the API's ingest path is measured by bench/ingest.py)."""
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(
            """
            INSERT INTO users (workspace_id, id, external_id, country, attributes,
                               email_status, push_status, in_app_status,
                               first_seen_at, last_seen_at, created_at, updated_at)
            SELECT %(w)s, gen_random_uuid(), 'user-' || n,
                   (ARRAY['US', 'FR', 'DE', 'GB', 'ES', 'BR'])[1 + n %% 6],
                   jsonb_build_object('plan', (ARRAY['free', 'free', 'pro', 'plus'])[1 + n %% 4]),
                   'subscribed', 'subscribed', 'subscribed', now(), now(), now(), now()
            FROM generate_series(0, %(n)s - 1) AS n
            """,
            {"w": workspace_id, "n": count},
        )


async def setup_through_api(base: str, secret: str, users: int) -> None:
    """Purchases tracked through the API, a saved segment of buyers, and the variables."""
    headers = {"Authorization": f"Bearer {secret}"}
    rng = random.Random(3)
    buyers = rng.sample(range(users), int(users * BUYER_SHARE))
    async with aiohttp.ClientSession(base, headers=headers) as http:
        for start in range(0, len(buyers), 1000):
            events = [{"user_id": f"user-{n}", "name": "purchase"} for n in buyers[start : start + 1000]]
            async with http.post("/v1/events/batch", json={"events": events}) as response:
                response.raise_for_status()
        segment = {"name": "Buyers", "definition": {"version": 1, "match": BOUGHT}}
        async with http.post("/v1/segments", json=segment) as response:
            response.raise_for_status()
            segment_id = (await response.json())["id"]
        for body in variables(segment_id):
            async with http.post("/v1/variables", json=body) as response:
                if response.status != 201:
                    raise RuntimeError(await response.text())


def signed_headers(
    settings: Settings, workspace_id: str, publishable: str, users: int
) -> list[dict[str, str]]:
    import uuid

    rng = random.Random(11)
    headers = []
    for _ in range(20_000):
        known = rng.random() >= UNKNOWN_SHARE
        external_id = f"user-{rng.randrange(users)}" if known else f"anonymous-{rng.randrange(10**9)}"
        signature = user_signature(settings, uuid.UUID(workspace_id), external_id)
        headers.append(
            {
                "Authorization": f"Bearer {publishable}",
                "X-Nudge-User": external_id,
                "X-Nudge-User-Signature": signature,
            }
        )
    return headers


# --- load ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: list[float]
    errors: int
    client_cpu_share: float


async def at_rate(
    base: str, path: str, headers: list[dict[str, str]], rate: float, seconds: float
) -> Outcome:
    """Open loop: request i starts at ``i / rate``; its latency counts from that moment.

    Sent through Nudge's own keep-alive HTTP/1.1 client (asyncio protocols, httptools):
    aiohttp took a sixth of a core at 500 requests/s, on the two cores the server shares."""
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    pool = Http1Pool(base, max_connections=256, timeout_s=10.0)
    prepared = [tuple(h.items()) for h in headers]
    loop = asyncio.get_running_loop()

    async def one(planned: float, request_headers: tuple[tuple[str, str], ...]) -> None:
        nonlocal errors
        try:
            response = await pool.request("GET", path, request_headers)
            if response.status != 200 or not response.body:
                errors += 1
        except TransportError:
            errors += 1
        latencies.append(loop.time() - planned)

    with collector_paused():
        cpu_before, started = _own_cpu(), loop.time()
        tasks = []
        for i in range(total):
            planned = started + i / rate
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(planned, prepared[i % len(prepared)])))
        await asyncio.gather(*tasks)
        share = (_own_cpu() - cpu_before) / (loop.time() - started)
    await pool.aclose()
    return Outcome(latencies, errors, share)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms(values: list[float], share: float) -> float:
    return round(percentile(values, share) * 1000, 2)


# --- run -----------------------------------------------------------------------------------


def run(scale: Scale, rate: float, workers: int, app_root: Path = ROOT) -> dict[str, object]:
    with fresh_database() as url, isolated_broker() as broker, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=_sqlalchemy_url(url), secret_key=SECRET, broker_url=broker)
        workspace_id, secret, publishable = make_workspace(settings)
        insert_users(url, workspace_id, scale.users)
        env = {
            **os.environ,
            "NUDGE_DATABASE_URL": settings.database_url,
            "NUDGE_SECRET_KEY": SECRET,
            "NUDGE_BROKER_URL": broker,
            "NUDGE_LOG_LEVEL": "warning",
        }
        with running_server(env, workers, Path(tmp) / "server.log", app_root) as server:
            asyncio.run(setup_through_api(server.base, secret, scale.users))
            analyze(url)
            headers = signed_headers(settings, workspace_id, publishable, scale.users)
            asyncio.run(at_rate(server.base, "/v1/content", headers, rate, scale.warmup_s))
            with CpuMeter(server, url) as baseline_cpu:
                baseline = asyncio.run(at_rate(server.base, "/healthz", [{}], rate, min(scale.seconds, 10.0)))
            with CpuMeter(server, url) as cpu, StealMeter() as steal:
                measured = asyncio.run(at_rate(server.base, "/v1/content", headers, rate, scale.seconds))
    requests = len(measured.latencies)
    return {
        "bench": "content",
        "rate": rate,
        "content_p50_ms": _ms(measured.latencies, 0.50),
        "content_p99_ms": _ms(measured.latencies, 0.99),
        "errors": measured.errors,
        "content_max_ms": round(max(measured.latencies) * 1000, 2),
        "baseline_healthz_p50_ms": _ms(baseline.latencies, 0.50),
        "baseline_healthz_p99_ms": _ms(baseline.latencies, 0.99),
        "baseline_healthz_api_cpu_us": round(baseline_cpu.api / len(baseline.latencies) * 1e6),
        "requests": requests,
        "api_cpu_us_per_request": round(cpu.api / requests * 1e6),
        "db_cpu_us_per_request": round(cpu.database / requests * 1e6),
        "client_cpu_share": round(measured.client_cpu_share, 3),
        "users": scale.users,
        "workers": workers,
        "quick": scale is QUICK,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "host_steal_share": steal.share,
    }


def measure_content(quick: bool) -> dict[str, object]:
    """p50 and p99 of ``GET /v1/content`` at 500 requests/s, set up from nothing, with the
    host's steal while measured."""
    result = run(QUICK if quick else FULL, RATE, workers=2)
    return {key: result[key] for key in ("content_p50_ms", "content_p99_ms", "host_steal_share")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small run (10,000 users, 5 s)")
    parser.add_argument("--rate", type=float, default=RATE, help="requests per second")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--app-root", type=Path, default=ROOT, help="serve the API from this checkout (a baseline)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    result = run(QUICK if args.quick else FULL, args.rate, args.workers, args.app_root)
    result["run_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
