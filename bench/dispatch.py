"""Plan and dispatch one campaign to every user, through the production path: the planner's
snapshot (INSERT ... SELECT), then a Celery worker with 2 processes claiming chunks, applying
every delivery rule and sending to the log sink channel. In the same run, the raw rate of
COPYing as many rows into a table shaped like the ledger, as the ceiling for comparison.

Every rule is on: unsubscribed users (1 %), a 5 % control group, frequency caps (evaluated
and recorded for every user), quiet hours (a one-minute window, dropped), a campaign
throttle, workspace and channel rates (Redis token buckets), and an expiry.

Runs alone against local Postgres (a scratch database it drops) and its own redis-server on a
free port. Users are generated here with COPY (26 zones, emails, attributes).

    python bench/dispatch.py            # 1,000,000 users
    python bench/dispatch.py --quick    # 50,000 users
    python bench/dispatch.py --app-root /path/to/other/export   # its worker code, for "before"

Prints one JSON line: bench, recipients, plan_s, messages_per_s, end_to_end_s, copy_rows_per_s,
plus the CPU the worker processes and the database's backends spent per message while
dispatching (steadier than wall-clock rates on a shared machine) and the load average. For
planning: the backends' CPU seconds (plan_db_cpu_s) and the checkpoints the server started
meanwhile (plan_checkpoints: one writing out dirty pages slows the snapshot).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import orjson
import psycopg
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.campaigns import planner, service  # noqa: E402
from app.campaigns.schemas import CampaignCreate  # noqa: E402
from app.delivery import ledger, policy  # noqa: E402
from app.delivery.schemas import DeliveryPolicyBody  # noqa: E402
from app.kit.db import Database  # noqa: E402
from app.kit.ids import uuid7  # noqa: E402
from app.kit.migrate import upgrade  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.models import Delivery, Send  # noqa: E402
from app.worker.celery_app import CelerySink, create_celery  # noqa: E402
from app.workspaces.service import create as create_workspace  # noqa: E402
from bench.ingest import CpuMeter, StealMeter  # noqa: E402
from tests.campaigns.processes import RedisServer, Worker, free_port, worker_env  # noqa: E402

ADMIN_URL = os.environ.get("NUDGE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ZONES = [
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
    "America/St_Johns", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Istanbul",
    "Africa/Lagos", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Bangkok", "Asia/Shanghai",
    "Asia/Tokyo", "Australia/Adelaide", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Auckland",
    "Pacific/Chatham", "Pacific/Kiritimati", "Pacific/Marquesas", "Pacific/Honolulu",
]  # fmt: skip
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def make_database() -> str:
    name = f"nudge_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_psycopg_url(ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_psycopg_url(ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_users(url: str, workspace_id: uuid.UUID, count: int) -> None:
    now = datetime.now(UTC).isoformat()
    columns = (
        "workspace_id, id, external_id, email, timezone, attributes, email_status, push_status, "
        "in_app_status, first_seen_at, last_seen_at, created_at, updated_at, first_name"
    )
    with psycopg.connect(_psycopg_url(url)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY users ({columns}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for i in range(count):
                in_app = "unsubscribed" if i % 100 == 0 else "subscribed"
                attributes = orjson.dumps({"plan": "pro" if i % 3 else "free", "score": i % 1000}).decode()
                buffer.write(
                    f"{workspace_id}\t{uuid7()}\tuser-{i}\tuser{i}@example.com\t{ZONES[i % len(ZONES)]}\t"
                    f"{attributes}\tsubscribed\tsubscribed\t{in_app}\t{now}\t{now}\t{now}\t{now}\tName{i}\n"
                )
                if i % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.execute("ANALYZE users")


def copy_rate(url: str, workspace_id: uuid.UUID, count: int) -> float:
    """Raw COPY of ``count`` rows into a table shaped like the ledger (same columns and indexes)."""
    with psycopg.connect(_psycopg_url(url)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_copy (LIKE deliveries INCLUDING DEFAULTS INCLUDING INDEXES)")
        send_id, campaign_id, now = uuid7(), uuid7(), datetime.now(UTC).isoformat()
        user_ids = [row[0] for row in cur.execute("SELECT id FROM users ORDER BY id")]
        rows = "".join(
            f"{workspace_id}\t{uuid7()}\t{send_id}\t{campaign_id}\t{user_id}\tin_app\tqueued\t{now}\t0\t{now}\n"
            for user_id in user_ids
        )
        started = time.perf_counter()
        with cur.copy(
            "COPY bench_copy (workspace_id, id, send_id, campaign_id, user_id, channel, status, due_at, "
            "attempts, created_at) FROM STDIN"
        ) as copy:
            copy.write(rows)
        conn.commit()
        elapsed = time.perf_counter() - started
        cur.execute("DROP TABLE bench_copy")
        conn.commit()
    return len(user_ids) / elapsed


def unfinished(database: Database, workspace_id: uuid.UUID, send_id: uuid.UUID) -> bool:
    """Whether rows are still queued or sending: the planner's own test, a lookup in each
    status's partial index (polled four times a second, a scan would cost the run)."""
    with database.transaction(workspace_id) as session:
        return ledger.has_unfinished(session, session.scalars(select(Send).where(Send.id == send_id)).one())


def checkpoints() -> int:
    """Checkpoints the server has started (timed or requested), from its statistics."""
    with psycopg.connect(_psycopg_url(ADMIN_URL), autocommit=True) as conn:
        row = conn.execute("SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").fetchone()
    return int(row[0]) if row else 0


def run(users: int, app_root: Path | None = None) -> dict[str, object]:
    url = make_database()
    workdir = Path(tempfile.mkdtemp(prefix="nudge-bench-"))
    redis_server = RedisServer(free_port(), workdir)
    redis_server.start()
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        broker_url=redis_server.url,
        channels_to_log=True,
        dispatch_chunk_size=1000,
        dispatch_lanes=4,
        # One wave of a million rows is one statement; on a busy shared machine it can pass
        # the default 30 s (the figure says how long it took).
        statement_timeout_ms=300_000,
    )
    database = Database(settings)
    worker = Worker(
        worker_env(settings, broker=redis_server.url, sink=workdir / "unused"), workdir / "worker.log"
    )
    worker.env.pop("NUDGE_LOG_CHANNEL_PATH")  # the sink only counts: measure Nudge, not a file
    if app_root is not None:  # the worker runs that tree's dispatcher (planning stays this one's)
        # Safe path: the working directory must not come before that tree on the import path.
        worker.env |= {"PYTHONPATH": str(app_root), "PYTHONSAFEPATH": "1"}
    try:
        with database.transaction() as session:
            workspace, _keys = create_workspace(session, name="Bench")
        workspace_id = workspace.id
        copy_users(url, workspace_id, users)
        with database.transaction(workspace_id) as session:
            policy.put(
                session,
                DeliveryPolicyBody.model_validate(
                    {
                        "quiet_hours": {"start": "03:00", "end": "03:01"},
                        "frequency_caps": [{"limit": 100, "window_hours": 24}],
                        "rate_per_second": 1_000_000,
                        "channel_rates": {"in_app": 1_000_000},
                    }
                ),
            )
            body = {
                "name": "Bench",
                "channel": "in_app",
                "audience": {"type": "all"},
                "variants": [
                    {
                        "key": "A",
                        "weight": 1,
                        "content": {"title": "Hi {{ user.first_name }}", "body": "Sale"},
                    },
                    {
                        "key": "B",
                        "weight": 1,
                        "content": {"title": "Hello {{ user.first_name }}", "body": "Sale"},
                    },
                ],
                "control_percent": 5,
                "schedule": {"type": "immediate"},
                # On and counted for every message, but above what 2 cores can send: at 1,000,000 a
                # minute (16,667 a second) it was the bench's own ceiling.
                "limits": {"per_minute": 6_000_000, "expire_after_minutes": 60, "quiet_hours": "drop"},
            }
            campaign = service.create(session, CampaignCreate.model_validate(body))
        worker.start()
        celery = CelerySink(create_celery(settings))
        time.sleep(3.0)  # the worker connects before the clock starts

        assert worker.proc is not None
        checkpoints_before = checkpoints()
        started = time.perf_counter()
        with CpuMeter(SimpleNamespace(process_group=worker.proc.pid), url) as plan_meter:  # type: ignore[arg-type]
            with database.transaction(workspace_id) as session:
                _campaign, jobs = service.launch(session, campaign.id, now=datetime.now(UTC))
            send_id = uuid.UUID(jobs[0].kwargs["send_id"])
            outcome = planner.plan_send(database, settings, workspace_id, send_id, now=datetime.now(UTC))
            assert outcome is not None
            planned, lanes = outcome
            plan_s = time.perf_counter() - started
        plan_checkpoints = checkpoints() - checkpoints_before
        # CPU of the worker processes and the database's backends while dispatching: steadier
        # than messages/s on a shared machine (the backends include this script's polling).
        meter = CpuMeter(SimpleNamespace(process_group=worker.proc.pid), url)  # type: ignore[arg-type]
        with meter, StealMeter() as steal:
            for job in lanes:
                celery.send(job)
            dispatch_started = time.perf_counter()
            next_tick = dispatch_started + 5.0
            while unfinished(database, workspace_id, send_id):
                if time.perf_counter() >= next_tick:  # the beat's tick, as in production
                    planner.tick(
                        database, settings, lambda js: [celery.send(j) for j in js], now=datetime.now(UTC)
                    )
                    next_tick = time.perf_counter() + 5.0
                time.sleep(0.25)
            finished = time.perf_counter()
        with database.transaction(workspace_id) as session:
            counts = dict(
                session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
            )
        worker.stop()
        copy_rows_per_s = copy_rate(url, workspace_id, users)
        print(orjson.dumps({"planned": planned, "statuses": counts}).decode(), file=sys.stderr, flush=True)
        return {
            "bench": "dispatch",
            "recipients": users,
            "plan_s": round(plan_s, 2),
            "plan_db_cpu_s": round(plan_meter.database, 2),
            "plan_checkpoints": plan_checkpoints,
            "messages_per_s": round(planned / (finished - dispatch_started)),
            "end_to_end_s": round(finished - started, 2),
            "copy_rows_per_s": round(copy_rows_per_s),
            "worker_cpu_us_per_message": round(meter.api / planned * 1e6, 1),
            "db_cpu_us_per_message": round(meter.database / planned * 1e6, 1),
            "load_average": round(os.getloadavg()[0], 1),
            "host_steal_share": steal.share,
        }
    finally:
        worker.stop()
        database.dispose()
        redis_server.stop()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 users instead of 1,000,000")
    parser.add_argument("--users", type=int, default=None, help="override the number of users")
    parser.add_argument(
        "--app-root", type=Path, default=None, help="run the worker from this source tree (a baseline)"
    )
    args = parser.parse_args()
    users = args.users or (50_000 if args.quick else 1_000_000)
    print(orjson.dumps(run(users, args.app_root)).decode())


if __name__ == "__main__":
    main()
