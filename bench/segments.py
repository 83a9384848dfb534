"""Segment counts at a million users: one SQL statement per segment, exact, warm.

Creates and migrates a fresh Postgres database, generates (in SQL, server side) 1,000,000
users and 10,000,000 events over 180 days in one workspace, plus 100,000 users and 1,000,000
events of noise in a second one, builds the activity rollup, VACUUM ANALYZEs, then times
through the application's own path (app role, row-level security on):

1. ``attributes``: plan, age and country of the profile;
2. ``did_3_in_30``: did ``purchase`` at least 3 times in the last 30 days;
3. ``combined_not``: (1) and not (2);
4. ``activity_or_demographics``: active on 3 of the last 7 days, or (US and under 25);
5. ``sum_purchase_value``: sum of purchase ``value`` over 30 days above 100;

each as ``SELECT count(*)``: one cold run, then the median of three warm runs. The baseline
is counting everyone through the same path (an index-only pass over the workspace's user
ids). Then the member ids of (3) are materialised with ``INSERT INTO audience SELECT ...``
(median of three), and 200 random users are checked one by one with ``is_member``.
The database is dropped at the end. Prints one final JSON line.

    python bench/segments.py [--quick] [--keep] [--users N --events M]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, Uuid, create_engine, func, insert, select, text

from app.kit.db import Database
from app.kit.migrate import upgrade
from app.kit.settings import Settings
from app.models import Event, UserActivityDay
from app.segments import activity
from app.segments import service as segments_service
from app.segments.compiler import is_member, members_select

ADMIN_URL = os.environ.get(
    "NUDGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-" + "x" * 40
DAYS = 180
WARM_RUNS = 3
COUNT_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Scale:
    users: int
    events: int
    noise_users: int
    noise_events: int


FULL = Scale(users=1_000_000, events=10_000_000, noise_users=100_000, noise_events=1_000_000)
QUICK = Scale(users=20_000, events=200_000, noise_users=2_000, noise_events=20_000)

ATTRIBUTES = {
    "all": [
        {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"},
        {"type": "attribute", "attribute": "age", "op": "gte", "value": 30},
        {"type": "field", "field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
    ]
}
DID_3_IN_30 = {
    "type": "event",
    "name": "purchase",
    "count": {"op": "gte", "value": 3},
    "window": {"last_days": 30},
}
QUERIES: dict[str, dict[str, Any]] = {
    "attributes": ATTRIBUTES,
    "did_3_in_30": DID_3_IN_30,
    "combined_not": {"all": [ATTRIBUTES, {"not": DID_3_IN_30}]},
    "activity_or_demographics": {
        "any": [
            {"type": "active", "at_least": 3, "of_last_days": 7},
            {
                "all": [
                    {"type": "field", "field": "country", "op": "eq", "value": "US"},
                    {"type": "attribute", "attribute": "age", "op": "lt", "value": 25},
                ]
            },
        ]
    },
    "sum_purchase_value": {
        "type": "aggregate",
        "name": "purchase",
        "property": "value",
        "function": "sum",
        "op": "gt",
        "value": 100,
        "window": {"last_days": 30},
    },
}
MATERIALISED = "combined_not"


def _sql_array(*values: str) -> str:
    return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"


COUNTRIES = _sql_array(
    *["DE", "DE", "DE", "US", "US", "US", "US", "FR", "GB", "GB"],
    *["AT", "CH", "IT", "ES", "NL", "PL", "BR", "IN", "JP", "CA"],
)
PLANS = _sql_array(*["free"] * 6, "pro", "pro", "pro", "team")
# Event mix: mostly app opens and views; about 10% purchases.
NAMES = _sql_array(
    *["app_open"] * 4, "screen_view", "screen_view", "add_to_cart", "purchase", "share", "search"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(label: str, action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    elapsed = time.perf_counter() - started
    log(f"  {label}: {elapsed:.1f} s")
    return elapsed


# --- data -----------------------------------------------------------------------------------


def generate(
    owner: Engine, workspace_id: uuid.UUID, users: int, events: int, *, tag: int, now: datetime
) -> None:
    """Users with ids ordered like UUIDv7 and a skewed activity: user i is drawn with density
    growing towards low i (random()^2), so a minority does most of the events."""
    with owner.begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))  # skip FK triggers for the load
        conn.execute(text("SELECT setseed(:seed)"), {"seed": 0.1 * tag})
        conn.execute(
            text(
                f"""
                INSERT INTO users (workspace_id, id, external_id, email, timezone, locale, country, city,
                    attributes, email_status, push_status, in_app_status, first_seen_at, last_seen_at,
                    created_at, updated_at)
                SELECT :w,
                    (lpad(to_hex({tag}), 4, '0') || lpad(to_hex(i), 8, '0') || '7'
                        || substr(md5(i::text || '-{tag}'), 1, 19))::uuid,
                    'user-' || i,
                    'user' || i || '@example.com',
                    'Europe/Berlin', 'de-DE',
                    ({COUNTRIES})[1 + (random() * 19)::int],
                    (ARRAY['Berlin','Wien','Zürich','New York','Paris'])[1 + (random() * 4)::int],
                    jsonb_build_object(
                        'plan', ({PLANS})[1 + (random() * 9)::int],
                        'age', 16 + (random() * 60)::int,
                        'score', round((random() * 100)::numeric, 1),
                        'signup', to_char(:now - random() * interval '900 days', 'YYYY-MM-DD')),
                    'subscribed', 'subscribed', 'subscribed',
                    :now - interval '900 days', :now, :now, :now
                FROM generate_series(1, :n) AS i
                """
            ),
            {"w": workspace_id, "n": users, "now": now},
        )
        for day in range(DAYS):
            per_day = events // DAYS + (1 if day < events % DAYS else 0)
            conn.execute(
                text(
                    f"""
                    INSERT INTO events (workspace_id, id, user_id, name, occurred_at, received_at,
                        properties, message_id)
                    SELECT :w,
                        (lpad(to_hex({tag}), 4, '0') || lpad(to_hex(CAST(:day AS int)), 4, '0')
                            || lpad(to_hex(g), 8, '0') || '7' || substr(md5(random()::text), 1, 15))::uuid,
                        (lpad(to_hex({tag}), 4, '0') || lpad(to_hex(e.i), 8, '0') || '7'
                            || substr(md5(e.i::text || '-{tag}'), 1, 19))::uuid,
                        e.name, e.at, e.at,
                        CASE WHEN e.name = 'purchase'
                             THEN jsonb_build_object('value', round((random() * 80)::numeric, 2),
                                                     'currency', 'EUR')
                             ELSE '{{}}'::jsonb END,
                        NULL
                    FROM (
                        SELECT g,
                               1 + floor(power(random(), 2) * :users)::int AS i,
                               ({NAMES})[1 + (random() * 9)::int] AS name,
                               :start + random() * interval '1 day' AS at
                        FROM generate_series(1, :n) AS g
                    ) AS e
                    """
                ),
                {
                    "w": workspace_id,
                    "n": per_day,
                    "users": users,
                    "day": day,
                    "start": now - timedelta(days=DAYS - day),
                },
            )
            if day % 30 == 29:
                log(f"    events: day {day + 1}/{DAYS}")


def drop_indexes(owner: Engine, table: Table) -> list[Any]:
    """Secondary indexes are faster to build once than to maintain row by row."""
    indexes = list(table.indexes)
    with owner.begin() as conn:
        for index in indexes:
            conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
    return indexes


def create_indexes(owner: Engine, indexes: list[Any]) -> None:
    with owner.begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for index in indexes:
            index.create(conn)


# --- measuring --------------------------------------------------------------------------------


def count(database: Database, workspace_id: uuid.UUID, match: dict[str, Any]) -> int:
    """The API's path (``GET /v1/segments/{id}/count``): one statement under a time limit."""
    with database.session(workspace_id) as session:
        result = segments_service.count(session, {"version": 1, "match": match}, COUNT_TIMEOUT_MS)
        assert not result.timed_out and result.count is not None
        return result.count


AUDIENCE = Table("audience", MetaData(), Column("user_id", Uuid), prefixes=["TEMPORARY"])


def materialise(database: Database, workspace_id: uuid.UUID, match: dict[str, Any], now: datetime) -> int:
    """``INSERT INTO audience SELECT ...``: the shape campaigns use to snapshot an audience."""
    with database.session(workspace_id) as session:
        members = members_select(workspace_id, {"version": 1, "match": match}, dialect="postgresql", now=now)
        AUDIENCE.create(session.connection())
        session.execute(insert(AUDIENCE).from_select(["user_id"], members))
        size = int(session.scalar(select(func.count()).select_from(AUDIENCE)) or 0)
        session.rollback()
    return size


def membership_ms(
    database: Database, workspace_id: uuid.UUID, user_ids: list[uuid.UUID], now: datetime
) -> dict[str, float]:
    """One-user checks (triggers, dynamic content) of the combined segment: p50 and p99."""
    definition = {"version": 1, "match": QUERIES[MATERIALISED]}
    timings = []
    with database.session(workspace_id) as session:
        for user_id in user_ids:
            started = time.perf_counter()
            is_member(session, definition, user_id, now=now)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    result = {"p50": round(timings[len(timings) // 2], 2), "p99": round(timings[int(len(timings) * 0.99)], 2)}
    log(f"  is_member {MATERIALISED}: {result}")
    return result


def measure(label: str, run: Callable[[], int]) -> tuple[float, float, int]:
    started = time.perf_counter()
    result = run()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(WARM_RUNS):
        started = time.perf_counter()
        run()
        warm.append(time.perf_counter() - started)
    median = statistics.median(warm)
    runs = ", ".join(f"{w:.3f}" for w in warm)
    log(f"  {label}: {result} members, cold {cold:.3f} s, warm median {median:.3f} s ({runs})")
    return cold, median, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run (20k users, 200k events)")
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    parser.add_argument("--users", type=int, help="another size (noise: a tenth of it)")
    parser.add_argument("--events", type=int, help="with --users")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    if args.users:
        events = args.events or args.users * 10
        scale = Scale(args.users, events, args.users // 10, events // 10)
    name = f"nudge_bench_segments_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    owner = create_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        upgrade(url)
        workspace, noise = uuid.uuid4(), uuid.uuid4()
        with owner.begin() as conn:
            for w, label in ((workspace, "bench"), (noise, "noise")):
                conn.execute(
                    text(
                        "INSERT INTO workspaces (id, name, timezone, activity_weeks_zone, created_at, "
                        "updated_at) VALUES (:id, :n, 'UTC', 'UTC', :t, :t)"
                    ),
                    {"id": w, "n": label, "t": now},
                )
        log(f"generating {scale.users:,} users / {scale.events:,} events (+ noise) in {name}")
        started = time.perf_counter()
        indexes = drop_indexes(owner, Event.__table__)
        timed(
            "bench workspace", lambda: generate(owner, workspace, scale.users, scale.events, tag=1, now=now)
        )
        timed(
            "noise workspace",
            lambda: generate(owner, noise, scale.noise_users, scale.noise_events, tag=2, now=now),
        )
        timed("event indexes", lambda: create_indexes(owner, indexes))
        rollup_indexes = drop_indexes(owner, UserActivityDay.__table__)
        with owner.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))  # rows come from checked events
            conn.execute(text("SET work_mem = '256MB'"))
            timed("activity rollup", lambda: activity.backfill(conn))
        create_indexes(owner, rollup_indexes)
        with owner.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            timed("vacuum analyze", lambda: conn.execute(text("VACUUM ANALYZE")))
        generate_s = time.perf_counter() - started
        with owner.connect() as conn:
            events = conn.scalar(
                text("SELECT count(*) FROM events WHERE workspace_id = :w"), {"w": workspace}
            )
            users = conn.scalar(text("SELECT count(*) FROM users WHERE workspace_id = :w"), {"w": workspace})

        database = Database(Settings(database_url=url, secret_key=SECRET, broker_url=None))
        log("counting (app role, row-level security on)")
        counts: dict[str, float] = {}
        cold: dict[str, float] = {}
        members: dict[str, int] = {}
        for label, match in QUERIES.items():
            cold[label], counts[label], members[label] = measure(
                label, lambda match=match: count(database, workspace, match)
            )
        # Baseline: counting everyone, which reads only the workspace's user ids (the index).
        _, baseline_s, everyone = measure(
            "baseline: everyone", lambda: count(database, workspace, {"all": []})
        )
        assert everyone == users
        _, materialise_s, size = measure(
            f"materialise {MATERIALISED}",
            lambda: materialise(database, workspace, QUERIES[MATERIALISED], now),
        )
        assert size == members[MATERIALISED]
        with owner.connect() as conn:
            sample = list(
                conn.scalars(
                    text("SELECT id FROM users WHERE workspace_id = :w ORDER BY random() LIMIT 200"),
                    {"w": workspace},
                )
            )
        is_member_ms = membership_ms(database, workspace, sample, now)
        database.dispose()
        result = {
            "bench": "segments",
            "users": users,
            "events": events,
            "count_s": {k: round(v, 3) for k, v in counts.items()},
            "baseline_count_everyone_s": round(baseline_s, 3),
            "materialise_s": round(materialise_s, 3),
            "is_member_ms": is_member_ms,
            "count_cold_s": {k: round(v, 3) for k, v in cold.items()},
            "members": members,
            "generate_s": round(generate_s, 1),
            "noise": {"users": scale.noise_users, "events": scale.noise_events},
            "quick": args.quick,
        }
    finally:
        owner.dispose()
        if args.keep:
            log(f"kept {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
