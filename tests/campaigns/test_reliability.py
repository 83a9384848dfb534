"""Exactly once with a real Postgres, a private Redis and Celery worker processes.

A chunk's rows stay ``queued``, locked by the chunk's transaction, until their outcomes are
written; when a worker dies the server rolls that transaction back, and the rows are sent again
with the same delivery id. So a crash can repeat only the batch that was in flight (the sink
sees that id twice, and a provider that deduplicates by it, as APNs does by ``apns-id``,
delivers once), and skips nobody.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select

from app.campaigns import planner, service
from app.campaigns.schemas import CampaignCreate
from app.models import Delivery
from app.models.base import utcnow
from app.worker.celery_app import CelerySink, create_celery
from tests.campaigns.helpers import add_users, campaign_body
from tests.campaigns.processes import RedisServer, Worker, free_port, sink_lines, worker_env

pytestmark = pytest.mark.slow

CHUNK = 1000
LEASE_S = 5.0


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rig(tuned, redis_server, tmp_path):
    database = tuned(
        broker_url=redis_server.url,
        dispatch_lease_s=LEASE_S,
        dispatch_stall_s=3.0,
        dispatch_chunk_size=CHUNK,
        dispatch_lanes=4,
    )
    sink = tmp_path / "sink.jsonl"
    worker = Worker(
        worker_env(database.settings, broker=redis_server.url, sink=sink), tmp_path / "worker.log"
    )
    celery = CelerySink(create_celery(database.settings))
    yield database, worker, celery, sink
    worker.stop()


def _emit(celery: CelerySink) -> Callable[[list], None]:
    def emit(jobs: list) -> None:
        for job in jobs:
            celery.send(job)

    return emit


def _counts(database, ws) -> dict[str, int]:
    with database.transaction(ws) as session:
        return dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())


def _launch(database, ws, **overrides):
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(**overrides)))
        _, jobs = service.launch(session, campaign.id, now=utcnow())
    return jobs


def _run_until_done(database, ws, celery, expected, *, on_poll=None, timeout=240.0):
    """Act as beat (a tick a second) until every row is final."""
    deadline = time.monotonic() + timeout
    next_tick = 0.0
    while time.monotonic() < deadline:
        counts = _counts(database, ws)
        if on_poll is not None:
            on_poll(counts)
        if sum(counts.values()) == expected and not counts.get("queued") and not counts.get("sending"):
            return counts
        if time.monotonic() >= next_tick:
            planner.tick(database, database.settings, _emit(celery), now=utcnow())
            next_tick = time.monotonic() + 1.0
        time.sleep(0.1)
    raise AssertionError(f"not finished in {timeout} s: {counts}")


def _ids(database, ws) -> tuple[set[str], int]:
    with database.transaction(ws) as session:
        ids = {str(i) for i in session.scalars(select(Delivery.id))}
        users = session.scalar(select(func.count(func.distinct(Delivery.user_id))))
    return ids, users or 0


def test_exactly_once_through_two_kill_9s(rig, tenant):
    database, worker, celery, sink = rig
    ws = tenant.workspace_id
    users = 50_000
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(users)])
    for job in _launch(database, ws):
        celery.send(job)
    worker.start()
    kills = [10_000, 30_000]
    caught_sending: list[int] = []

    def kill_mid_dispatch(counts: dict[str, int]) -> None:
        if kills and counts.get("sent", 0) >= kills[0]:
            worker.kill()
            caught_sending.append(_counts(database, ws).get("sending", 0))
            kills.pop(0)
            worker.start()

    counts = _run_until_done(database, ws, celery, users, on_poll=kill_mid_dispatch)
    assert not kills, "the worker was not killed twice"
    assert counts == {"sent": users}
    ids, distinct_users = _ids(database, ws)
    assert len(ids) == users == distinct_users  # one row per user, nobody skipped
    seen, torn = sink_lines(sink)
    assert set(seen) == ids  # every message reached the sink with its delivery id
    repeats = sum(seen.values()) - len(seen)
    # A repeat is a batch in flight at a kill: at most the pool's two chunks per kill.
    assert repeats <= 2 * 2 * CHUNK
    assert caught_sending == [0, 0]  # the killed chunks' rows were rolled back, not left leased
    with database.transaction(ws) as session:
        attempts = set(session.scalars(select(Delivery.attempts).distinct()))
    assert attempts == {1}  # a killed attempt is rolled back with its chunk
    print(
        f"\nexactly-once: {users} users, 2 kill -9s, rows caught in sending {caught_sending}, "
        f"raw repeats at the sink {repeats}, torn lines {torn}, "
        f"repeats after deduplication by delivery id 0"
    )


def test_redis_restarted_mid_campaign(rig, tenant, redis_server):
    database, worker, celery, sink = rig
    ws = tenant.workspace_id
    users = 20_000
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(users)])
    from app.delivery import policy
    from app.delivery.schemas import DeliveryPolicyBody

    with database.transaction(ws) as session:  # a rate, so the Redis token bucket is in the path
        policy.put(session, DeliveryPolicyBody(rate_per_second=1_000_000))
    for job in _launch(database, ws):
        celery.send(job)
    worker.start()
    restarted = []
    worker_exits = []

    def restart_redis(counts: dict[str, int]) -> None:
        if not restarted and counts.get("sent", 0) >= 5_000:
            redis_server.stop()
            time.sleep(1.0)
            redis_server.start()  # empty: every queued task is gone
            restarted.append(counts.get("sent", 0))
        # Celery 5.7 / kombu 5.7 workers may exit on a lost Redis ("Unrecoverable error" while
        # restoring unacked messages); production runs them under a restarting supervisor.
        if worker.supervise():
            worker_exits.append(counts.get("sent", 0))

    counts = _run_until_done(database, ws, celery, users, on_poll=restart_redis)
    assert restarted and counts == {"sent": users}
    seen, torn = sink_lines(sink)
    ids, _ = _ids(database, ws)
    assert set(seen) == ids and torn == 0
    assert sum(seen.values()) == users  # no repeats at all
    print(
        f"\nredis restart: at {restarted[0]} sent; worker exits restarted by the supervisor: {worker_exits}"
    )


_PLANNER = """
import sys, time
from app.campaigns import planner
from app.kit.db import Database
from app.kit.settings import Settings
from app.models.base import utcnow
from app.worker.celery_app import CelerySink, create_celery
settings = Settings()
database, sink = Database(settings), CelerySink(create_celery(settings))
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.001)
for _ in range(15):
    planner.tick(database, settings, lambda jobs: [sink.send(j) for j in jobs], now=utcnow())
    time.sleep(0.2)
"""


def test_two_planners_at_once(rig, tenant, tmp_path):
    database, worker, celery, sink = rig
    ws = tenant.workspace_id
    per_campaign, campaigns = 4_000, 5
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(per_campaign * campaigns)])
    for c in range(campaigns):  # launched, but planning is left to the two planners
        ids = [f"u{i}" for i in range(c * per_campaign, (c + 1) * per_campaign)]
        _launch(database, ws, audience={"type": "users", "external_ids": ids})
    worker.start()
    env = worker_env(database.settings, broker=database.settings.broker_url or "", sink=sink)
    start = str(time.time() + 3.0)
    planners = [
        subprocess.Popen([sys.executable, "-c", _PLANNER, start], env={**__import__("os").environ, **env})
        for _ in range(2)
    ]
    for proc in planners:
        assert proc.wait(timeout=120) == 0
    counts = _run_until_done(database, ws, celery, per_campaign * campaigns)
    assert counts == {"sent": per_campaign * campaigns}
    seen, torn = sink_lines(sink)
    ids, distinct_users = _ids(database, ws)
    assert set(seen) == ids and distinct_users == per_campaign * campaigns
    assert sum(seen.values()) == len(ids) and torn == 0  # no repeats at all


def test_a_delivery_that_kills_the_worker_every_time_is_failed(tuned, redis_server, tenant, tmp_path):
    """One user's send kills the worker process every time: bisected out of its chunk and failed
    after a bounded number of deaths; everyone else gets the message once, and the lane ends."""
    max_crashes, chunk, users = 3, 8, 40
    # One lane, and no stall restarts while it dies: the deaths are the bisection's alone.
    database = tuned(
        broker_url=redis_server.url,
        dispatch_chunk_size=chunk,
        dispatch_lanes=1,
        dispatch_stall_s=120.0,
        dispatch_max_crashes=max_crashes,
    )
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(users)])
    celery = CelerySink(create_celery(database.settings))
    _launch(database, ws)
    planner.tick(database, database.settings, _emit(celery), now=utcnow())  # plans it, starts its lane
    with database.transaction(ws) as session:
        order = session.execute(select(Delivery.id, Delivery.user_id).order_by(Delivery.due_at, Delivery.id))
        claim_order = list(order)
    poison_id, poison_user = claim_order[21]  # the third chunk's sixth row
    sink, deaths = tmp_path / "sink.jsonl", tmp_path / "deaths"
    env = worker_env(database.settings, broker=redis_server.url, sink=sink)
    env |= {"POISON_USER_ID": str(poison_user), "POISON_DEATHS": str(deaths)}
    worker = Worker(env, tmp_path / "worker.log", imports=("tests.campaigns.poison_sink",))
    worker.start()
    try:
        started = time.monotonic()
        counts = _run_until_done(database, ws, celery, users, timeout=60.0)
        took = time.monotonic() - started
    finally:
        worker.stop()
    assert counts == {"sent": users - 1, "failed": 1}
    with database.transaction(ws) as session:
        poison = session.get(Delivery, (ws, poison_id))
        assert poison is not None and poison.status == "failed"
        assert poison.error == f"the worker died sending this message {max_crashes} times"
    batches = [int(size) for size in deaths.read_text().split()]
    # Chunk 16-23 dies whole 3 times, its half 16-19 commits, 20-21 dies, 20 commits, then 21
    # dies alone 3 times: the bound is 2 * max_crashes + log2(chunk) deaths.
    assert batches == [8, 8, 8, 2, 1, 1, 1]
    seen, torn = sink_lines(sink)
    others = {str(i) for i, _ in claim_order} - {str(poison_id)}
    assert seen == dict.fromkeys(others, 1) and torn == 0  # everyone else exactly once
    print(f"\npoison delivery: failed after {len(batches)} worker deaths, campaign done in {took:.1f} s")
