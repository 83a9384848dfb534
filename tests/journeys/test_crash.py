"""A real worker (Celery, its own process group) is killed with SIGKILL while journeys
advance, twice; after restarts, every user has taken exactly the steps of their path, in
order, once each, and every send step produced one delivery that reached the channel."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from app.campaigns import planner
from app.journeys import entry, runner, service
from app.journeys.engine import split_bucket
from app.journeys.schemas import JourneyCreate
from app.models import Delivery, JourneyState, JourneyStep
from app.models.base import utcnow
from app.worker.celery_app import CelerySink, create_celery
from tests.campaigns.helpers import add_users
from tests.campaigns.processes import RedisServer, Worker, free_port, sink_lines, worker_env
from tests.journeys.helpers import add_devices, api_journey, paths

pytestmark = pytest.mark.slow

USERS = 4000
BATCH = 25
PUSH = {"body": "Step {{ event.properties.n }}"}
STEPS = [
    {"id": "mark", "type": "update_attribute", "attribute": "seen", "value": True, "next": "split"},
    {
        "id": "split",
        "type": "split",
        "paths": [{"key": "x", "percent": 50, "next": "px"}, {"key": "y", "percent": 50, "next": "mark_y"}],
    },
    {
        "id": "px",
        "type": "send",
        "channel": "push",
        "variants": [{"key": "A", "content": PUSH}],
        "next": "bye",
    },
    {"id": "mark_y", "type": "update_attribute", "attribute": "y", "value": 1, "next": "py"},
    {
        "id": "py",
        "type": "send",
        "channel": "push",
        "variants": [{"key": "A", "content": PUSH}],
        "next": "bye",
    },
    {"id": "bye", "type": "exit"},
]
PATH_X = [("mark", "done"), ("split", "x"), ("px", "done"), ("bye", "exit")]
PATH_Y = [("mark", "done"), ("split", "y"), ("mark_y", "done"), ("py", "done"), ("bye", "exit")]


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rig(tuned, redis_server, tmp_path):
    database = tuned(
        broker_url=redis_server.url, dispatch_lease_s=5.0, dispatch_stall_s=3.0, journey_batch_size=BATCH
    )
    sink = tmp_path / "sink.jsonl"
    env = {
        **worker_env(database.settings, broker=redis_server.url, sink=sink),
        "NUDGE_JOURNEY_BATCH_SIZE": str(BATCH),
    }
    worker = Worker(env, tmp_path / "worker.log")
    celery = CelerySink(create_celery(database.settings))
    yield database, worker, celery, sink
    worker.stop()


def _progress(database, ws) -> tuple[int, int, int]:
    with database.transaction(ws) as session:
        steps = session.scalar(select(func.count()).select_from(JourneyStep)) or 0
        active = session.scalar(select(func.count()).where(JourneyState.status == "active")) or 0
        unsent = session.scalar(select(func.count()).where(Delivery.status.in_(("queued", "sending")))) or 0
    return steps, active, unsent


def test_kill_9_while_journeys_advance(rig, tenant):
    database, worker, celery, sink = rig
    ws = tenant.workspace_id
    ids = add_users(database, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    add_devices(database, ws, ids)
    with database.transaction(ws) as session:
        journey = service.create(session, JourneyCreate.model_validate(api_journey(STEPS)), now=utcnow())
        service.launch(session, journey.id, now=utcnow())
        users = [(u, {"name": "api", "properties": {"n": i}}) for i, u in enumerate(ids)]
        assert (
            entry.enter(session, journey, service.definition(session, journey), users, now=utcnow()) == USERS
        )
    expected_steps = sum(len(PATH_X if split_bucket(journey.id, "split", u) < 50 else PATH_Y) for u in ids)
    emit = celery.send
    worker.start()
    for _ in range(2):  # two advance chains, one per pool process
        emit(runner.advance_job(ws))
    kills = [expected_steps // 5, expected_steps // 2]
    killed_at: list[int] = []
    deadline = time.monotonic() + 300
    while True:
        steps, active, unsent = _progress(database, ws)
        if kills and steps >= kills[0]:
            worker.kill()
            killed_at.append(_progress(database, ws)[0])
            kills.pop(0)
            worker.start()
        if not active and not unsent and steps == expected_steps:
            break
        assert time.monotonic() < deadline, (steps, active, unsent)
        # What beat does: the journeys tick restarts advancing, the campaigns tick restarts lanes.
        runner.tick(database, lambda jobs: [emit(j) for j in jobs], now=utcnow())
        planner.tick(database, database.settings, lambda jobs: [emit(j) for j in jobs], now=utcnow())
        time.sleep(0.5)
    assert not kills and all(0 < k < expected_steps for k in killed_at), killed_at

    found = paths(database, ws)  # also checks each pass's steps are numbered 0..n without gaps
    by_name = {f"u{i}#1": u for i, u in enumerate(ids)}
    for name, state in found.items():
        path = PATH_X if split_bucket(journey.id, "split", by_name[name]) < 50 else PATH_Y
        assert state["path"] == path and state["status"] == "exited", (name, state)
    assert len(found) == USERS
    with database.transaction(ws) as session:
        deliveries = session.execute(select(Delivery.id, Delivery.user_id, Delivery.status)).all()
    assert len(deliveries) == len({d.user_id for d in deliveries}) == USERS  # one send step each
    assert {d.status for d in deliveries} == {"sent"}
    seen, _ = sink_lines(sink)
    assert set(seen) == {str(d.id) for d in deliveries}
    print(f"\njourneys crash: {USERS} users, {expected_steps} steps, kill -9 at {killed_at} steps journaled")


def test_split_buckets_are_stable_and_spread():
    journey = uuid.uuid4()
    users = [uuid.uuid4() for _ in range(2000)]
    assert [split_bucket(journey, "s", u) for u in users] == [split_bucket(journey, "s", u) for u in users]
    assert 850 <= sum(split_bucket(journey, "s", u) < 50 for u in users) <= 1150
