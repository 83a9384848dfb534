"""A delivery whose send kills the worker every time is bisected out of its chunk and failed
(Postgres, a private Redis); a worker killed once changes nothing.

A death is played in this process by an exception no ``except Exception`` catches: the chunk's
transaction is rolled back and its mark left in Redis, as when the process dies."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from app.delivery import dispatcher, lanes
from app.delivery.crashes import CrashMarks, Verdict, judge
from app.delivery.throttle import MemoryBuckets
from app.models import Delivery
from tests.campaigns.helpers import T0, add_users, deliveries
from tests.campaigns.processes import free_port
from tests.campaigns.test_failed_chunks import _launch

MAX_CRASHES = 3
CHUNK = 8
POISON_DEATHS = 7


class Died(BaseException):
    """The worker process dying mid-send."""


@pytest.mark.parametrize(
    ("claimed", "suspect", "deaths", "verdict"),
    [
        (8, None, 0, Verdict(8, None, 0)),  # a first try
        (8, None, 2, Verdict(8, None, 2)),  # died twice whole (kills, say): still whole
        (8, None, 3, Verdict(4, 8, 0)),  # died max_crashes times: try its first half
        (8, 8, 1, Verdict(2, 4, 0)),  # that half died: it is the suspect range, try its half
        (8, 4, 0, Verdict(2, 4, 0)),  # passed on by a committed half: try its half
        (3, 4, 0, Verdict(2, 4, 0)),  # fewer rows claimed than suspected
        (8, 2, 1, Verdict(1, 1, 1)),  # a one-row half died: that row's own first death
        (8, 1, 2, Verdict(1, 1, 2)),  # alone, died twice
        (8, 1, 3, Verdict(1, 1, 3, fail=True)),  # alone, died max_crashes times: fail it
        (1, None, 3, Verdict(1, 1, 3, fail=True)),  # a one-row chunk's deaths are its row's own
    ],
)
def test_judge(claimed, suspect, deaths, verdict):
    assert judge(claimed, suspect, deaths, MAX_CRASHES) == verdict


@pytest.fixture
def marks(redis_server) -> CrashMarks:
    marks = CrashMarks(redis_server.url, max_crashes=MAX_CRASHES)
    marks._client.flushall()
    return marks


class Lane:
    """One lane run in this process: a chunk that dies is run again from the same place, as the
    redelivered task would be."""

    def __init__(self, database, workspace_id, send_id, marks, poison_user, recording) -> None:
        self.database, self.workspace_id, self.send_id, self.marks = database, workspace_id, send_id, marks
        self.deaths = 0
        self.claims: list[int] = []
        real = recording.send

        async def send(messages):
            if any(m.user_id == poison_user for m in messages):
                raise Died
            return await real(messages)

        recording.send = send

    def run(self, *, max_chunks: int = 100, on_death=None) -> None:
        after = None
        for _ in range(max_chunks):
            try:
                report, jobs = dispatcher.dispatch_chunk(
                    self.database,
                    MemoryBuckets(),
                    workspace_id=self.workspace_id,
                    send_id=self.send_id,
                    after=after,
                    now=T0,
                    crash_marks=self.marks,
                )
            except Died:
                self.deaths += 1
                if on_death is not None:
                    on_death(self.deaths)
                continue
            self.claims.append(report.claimed)
            if not jobs:
                return
            after = lanes.parse_after(jobs[0].kwargs["after"])
        raise AssertionError("the lane did not finish")


def _send_to(tuned, tenant, users: int):
    """A send to ``users`` users; their ids in the order the lane claims their deliveries."""
    database = tuned(dispatch_chunk_size=CHUNK, dispatch_max_crashes=MAX_CRASHES)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(users)])
    send_id = _launch(database, ws)
    claim_order = sorted(deliveries(database, ws), key=lambda d: (d.due_at, d.id))
    return database, ws, [d.user_id for d in claim_order], send_id


def _outcome(database, ws, recording) -> tuple[dict[uuid.UUID, Delivery], Counter[uuid.UUID]]:
    by_user = {d.user_id: d for d in deliveries(database, ws)}
    return by_user, Counter(m.delivery_id for m in recording.messages)


def test_a_poison_row_is_bisected_out_and_failed(tuned, tenant, recording, marks):
    database, ws, users, send_id = _send_to(tuned, tenant, 20)
    poison = users[13]  # the second chunk's sixth row
    lane = Lane(database, ws, send_id, marks, poison, recording)
    lane.run()
    by_user, sent = _outcome(database, ws, recording)
    assert by_user[poison].status == "failed"
    assert by_user[poison].error == "the worker died sending this message 3 times"
    assert by_user[poison].attempts == 1  # the deaths were rolled back; the failing try counts
    others = [by_user[u] for u in users if u != poison]
    assert {d.status for d in others} == {"sent"}
    assert sent == Counter({d.id: 1 for d in others})  # every other user exactly once
    # Rows 8-15 die whole 3 times; their first half (8-11) commits and passes 12-15 on; its half
    # (12-13) dies once, its first row commits and passes on 13 alone, which dies 3 times and is
    # failed; the lane then ends with 14-19.
    assert lane.deaths == POISON_DEATHS
    assert lane.claims == [8, 4, 1, 1, 6]
    assert marks._client.keys("*") == []  # every mark cleared


def test_a_chunk_killed_once_is_retried_whole(tuned, tenant, recording, marks):
    database, ws, _, send_id = _send_to(tuned, tenant, CHUNK)
    lane = Lane(database, ws, send_id, marks, uuid.uuid4(), recording)
    real = recording.send
    killed = []

    async def killed_once(messages):
        if not killed:
            killed.append(len(messages))
            raise Died
        return await real(messages)

    recording.send = killed_once
    lane.run()
    assert killed == [CHUNK] and lane.claims == [CHUNK, 0]  # full, whole: then the empty end
    by_user, sent = _outcome(database, ws, recording)
    assert {d.status for d in by_user.values()} == {"sent"} and sent == Counter(
        {d.id: 1 for d in by_user.values()}
    )
    assert marks._client.keys("*") == []


def test_a_chunk_that_raises_counts_no_death(tuned, tenant, recording, marks, monkeypatch):
    database, ws, _, send_id = _send_to(tuned, tenant, 2)
    lane = Lane(database, ws, send_id, marks, uuid.uuid4(), recording)

    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(dispatcher.compose, "compile_chunk", boom)
    with pytest.raises(RuntimeError):
        lane.run()
    (key,) = marks._client.keys("*")
    assert marks._client.hget(key, "tries") == b"0"


def test_redis_flushed_mid_bisection_restarts_the_count(tuned, tenant, recording, marks):
    database, ws, users, send_id = _send_to(tuned, tenant, 20)
    poison = users[13]
    lane = Lane(database, ws, send_id, marks, poison, recording)
    lane.run(on_death=lambda deaths: deaths == 4 and marks._client.flushall())
    by_user, sent = _outcome(database, ws, recording)
    assert by_user[poison].status == "failed"
    others = [by_user[u] for u in users if u != poison]
    assert {d.status for d in others} == {"sent"} and sent == Counter({d.id: 1 for d in others})
    assert lane.deaths > POISON_DEATHS  # the bound started over, and still held


def test_without_redis_a_chunk_goes_on_unbounded(tuned, tenant, recording):
    database, ws, _, send_id = _send_to(tuned, tenant, 3)
    away = CrashMarks(f"redis://127.0.0.1:{free_port()}/0", max_crashes=MAX_CRASHES)
    Lane(database, ws, send_id, away, uuid.uuid4(), recording).run()
    assert len(recording.messages) == 3
