"""Advance users through a 3-step journey (wait 1 hour -> send in-app -> exit) with the
journey engine, in two processes at once (they split due states with SKIP LOCKED), and
measure the steps advanced per second. In the same run, the raw rate of one INSERT ... SELECT
writing as many journal rows, as the ceiling for comparison.

Runs alone against local Postgres (a scratch database it drops). Users are generated here
with COPY and entered through the engine's bulk entry. The clock is simulated: the first
pass starts every user's wait, the second (an hour later) ends it, queues the send in the
delivery ledger (dispatch itself is measured by bench/dispatch.py) and exits.

    python bench/journeys.py            # 100,000 users
    python bench/journeys.py --quick    # 5,000 users

Prints one JSON line: bench, users, steps_per_s, content_p50_ms, content_p99_ms (the content
half comes from bench/content.py when present), plus enter_per_s, journal_rows_per_s and the
host's steal while the content half ran (host_steal_share).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.journeys import entry, runner, service  # noqa: E402
from app.journeys.schemas import JourneyCreate  # noqa: E402
from app.kit.db import Database  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.models import Delivery, JourneyState, JourneyStep, User  # noqa: E402
from app.workspaces.service import create as create_workspace  # noqa: E402
from bench.content import measure_content  # noqa: E402
from bench.dispatch import SECRET, _psycopg_url, copy_users, drop_database, make_database  # noqa: E402

PROCESSES = 2
T0 = datetime(2026, 3, 1, tzinfo=UTC)
JOURNEY = {
    "name": "Bench",
    "definition": {
        "entry": {"type": "api", "next": "wait"},
        "steps": [
            {"id": "wait", "type": "wait", "duration": {"hours": 1}, "next": "hello"},
            {"id": "hello", "type": "send", "channel": "in_app",
             "variants": [{"key": "A", "content": {"body": "Hi {{ user.first_name }}"}}], "next": "bye"},
            {"id": "bye", "type": "exit"},
        ],
    },
}  # fmt: skip


def _settings(url: str) -> Settings:
    return Settings(database_url=url, secret_key=SECRET, broker_url=None)


def _advance(url: str, workspace_id: uuid.UUID, now: datetime) -> int:
    """One engine process: advance every due state it can claim; returns its steps."""
    database = Database(_settings(url))
    try:
        report = runner.advance(database, workspace_id, lambda jobs: None, now=now, budget_s=3600)
        return report.steps
    finally:
        database.dispose()


def _pass(url: str, workspace_id: uuid.UUID, now: datetime) -> tuple[int, float]:
    with ProcessPoolExecutor(PROCESSES) as pool:
        pool.submit(int, 0).result()  # the processes exist before the clock starts
        started = time.perf_counter()
        steps = sum(
            f.result() for f in [pool.submit(_advance, url, workspace_id, now) for _ in range(PROCESSES)]
        )
        return steps, time.perf_counter() - started


def journal_rate(url: str, rows: int) -> float:
    """Raw INSERT ... SELECT of ``rows`` rows into a table shaped like the journal."""
    with psycopg.connect(_psycopg_url(url)) as conn:
        conn.execute("CREATE TABLE bench_journal (LIKE journey_steps INCLUDING DEFAULTS INCLUDING INDEXES)")
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO bench_journal (workspace_id, state_id, seq, journey_id, version, step, outcome, at) "
            "SELECT s.workspace_id, s.id, n, s.journey_id, 1, 'step', 'done', now() "
            "FROM journey_states s CROSS JOIN generate_series(0, %s) AS n",
            (rows // max(1, conn.execute("SELECT count(*) FROM journey_states").fetchone()[0]) - 1,),
        )
        conn.commit()
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM bench_journal").fetchone()[0]
        conn.execute("DROP TABLE bench_journal")
        conn.commit()
    return count / elapsed


def run(users: int) -> dict[str, object]:
    url = make_database()
    database = Database(_settings(url))
    try:
        with database.transaction() as session:
            workspace, _keys = create_workspace(session, name="Bench")
        workspace_id = workspace.id
        copy_users(url, workspace_id, users)
        with database.transaction(workspace_id) as session:
            journey = service.create(session, JourneyCreate.model_validate(JOURNEY), now=T0)
            service.launch(session, journey.id, now=T0)
        started = time.perf_counter()
        with database.transaction(workspace_id) as session:
            ids = list(session.scalars(select(User.id)))
            definition = service.definition(session, journey)
            entered = entry.enter(session, journey, definition, [(u, {}) for u in ids], now=T0)
        enter_s = time.perf_counter() - started
        with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
            conn.execute("ANALYZE journey_states")
        first, first_s = _pass(url, workspace_id, T0)
        second, second_s = _pass(url, workspace_id, T0 + timedelta(hours=1))
        with database.transaction(workspace_id) as session:
            journaled = session.scalar(select(func.count()).select_from(JourneyStep))
            active = session.scalar(select(func.count()).where(JourneyState.status == "active"))
            queued = session.scalar(select(func.count()).select_from(Delivery))
        assert entered == users and journaled == 3 * users and active == 0 and queued == users, (
            entered,
            journaled,
            active,
            queued,
        )
        steps = first + second
        journal_rows_per_s = journal_rate(url, 3 * users)
        print(
            orjson.dumps(
                {"first_pass": [first, round(first_s, 2)], "second_pass": [second, round(second_s, 2)]}
            ).decode(),
            file=sys.stderr,
            flush=True,
        )
        return {
            "bench": "journeys",
            "users": users,
            "steps_per_s": round(steps / (first_s + second_s)),
            "enter_per_s": round(users / enter_s),
            "journal_rows_per_s": round(journal_rows_per_s),
        }
    finally:
        database.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 users instead of 100,000")
    args = parser.parse_args()
    figures = run(5_000 if args.quick else 100_000)
    figures |= measure_content(args.quick)
    print(orjson.dumps(figures).decode(), flush=True)


if __name__ == "__main__":
    main()
