"""A large wave split into parallel statements over user-id ranges (Postgres): exactly one
delivery per audience member, the right planned count, and a failed part completed by the next
plan without a duplicate."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.campaigns import service, split
from app.campaigns.schemas import CampaignCreate
from app.experiments.rollout import ROLLOUT
from app.models import Campaign, CampaignStatus, Send, SendStatus
from app.models.base import utcnow
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries, statuses

USERS = 600
PARTS = 3


@pytest.fixture
def split_db(tuned):
    return tuned(plan_parallel_parts=PARTS, plan_parallel_min_rows=1)


@pytest.fixture
def parts_run(monkeypatch):
    """Counts the parts that ran; ``fail_part`` makes the n-th one started fail before writing."""
    started, lock, fail = itertools.count(), threading.Lock(), {"part": None}
    original = split.run_part
    # The whole table as the sample: exact estimates and cuts, whatever earlier tests left in it.
    monkeypatch.setattr(split, "SAMPLE_PAGES", 10**9)

    def run_part(database, workspace_id, statement):
        with lock:
            number = next(started)
        if number == fail["part"]:
            raise RuntimeError("part lost")
        return original(database, workspace_id, statement)

    monkeypatch.setattr(split, "run_part", run_part)
    return lambda: next(started), fail


def _launch(database, workspace_id, at=T0, **overrides):
    with database.transaction(workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(**overrides)))
        campaign, jobs = service.launch(session, campaign.id, now=at)
    return campaign.id, jobs


def _send(database, workspace_id, campaign_id):
    with database.transaction(workspace_id) as session:
        send = session.scalars(select(Send).where(Send.campaign_id == campaign_id)).one()
        campaign = session.scalars(select(Campaign).where(Campaign.id == campaign_id)).one()
        return send, campaign.status


def test_split_wave_queues_each_member_once(split_db, tenant, other_tenant, recording, parts_run):
    ws = tenant.workspace_id
    members = add_users(split_db, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    add_users(split_db, other_tenant.workspace_id, [{"external_id": f"o{i}"} for i in range(200)])
    now = utcnow()  # the database's clock makes the row ids: nothing is older than the send's due time
    campaign_id, jobs = _launch(split_db, ws, now)
    lanes = Lanes(split_db)
    lanes.emit(jobs)
    lanes.run(now)

    counted, _fail = parts_run
    assert counted() == PARTS  # the next number: exactly PARTS parts ran
    rows = deliveries(split_db, ws)
    assert sorted(r.user_id for r in rows) == sorted(members)
    send, _status = _send(split_db, ws, campaign_id)
    assert send.planned_count == USERS and send.status == SendStatus.dispatching
    assert statuses(split_db, ws) == {"sent": USERS}
    assert len({m.delivery_id for m in recording.messages}) == USERS


def test_failed_part_is_completed_by_the_next_plan(split_db, tenant, recording, parts_run):
    ws = tenant.workspace_id
    members = add_users(split_db, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    _counted, fail = parts_run
    fail["part"] = 1
    now = utcnow()
    campaign_id, jobs = _launch(split_db, ws, now)
    lanes = Lanes(split_db)
    with pytest.raises(RuntimeError, match="part lost"):
        lanes.emit(jobs)
        lanes.run(now)

    # The other parts committed; the wave is not marked planned and nothing is dispatching.
    committed = len(deliveries(split_db, ws))
    assert 0 < committed < USERS
    send, status = _send(split_db, ws, campaign_id)
    assert (send.status, send.planned_zones, send.planned_count) == (SendStatus.planning, [], 0)
    assert status == CampaignStatus.scheduled and recording.messages == []

    fail["part"] = None
    lanes.jobs.clear()
    now += timedelta(minutes=1)
    report = lanes.tick(now)  # the next tick plans the wave again
    assert report.planned_sends == 1 and report.queued == USERS
    rows = deliveries(split_db, ws)
    assert sorted(r.user_id for r in rows) == sorted(members)
    send, status = _send(split_db, ws, campaign_id)
    assert send.planned_count == USERS and send.status == SendStatus.dispatching
    assert status == CampaignStatus.running and lanes.jobs  # lanes start after the commit
    lanes.run(now)
    assert statuses(split_db, ws) == {"sent": USERS}
    assert len({m.delivery_id for m in recording.messages}) == len(recording.messages) == USERS


def test_small_wave_stays_one_statement(tuned, tenant, recording, parts_run):
    database = tuned(plan_parallel_parts=PARTS, plan_parallel_min_rows=USERS + 1)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    _campaign_id, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    counted, _fail = parts_run
    assert counted() == 0
    assert statuses(database, ws) == {"sent": USERS}


def test_roll_out_wave_with_its_decision_stays_one_statement(split_db, tenant, recording, parts_run):
    """The winner commits with the planning transaction: no part may commit rows before it."""
    ws = tenant.workspace_id
    add_users(split_db, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    variants = [{"key": k, "content": {"title": k, "body": k}} for k in ("A", "B")]
    rollout = {"test_percent": 50, "wait_hours": 2, "metric": "clicked", "fallback_variant": "B"}
    _campaign_id, jobs = _launch(split_db, ws, variants=variants, rollout=rollout)
    lanes = Lanes(split_db)
    lanes.emit(jobs)
    lanes.run(T0)
    counted, _fail = parts_run
    assert counted() == PARTS  # the test share: split
    lanes.settle(T0 + timedelta(hours=2))
    assert counted() == PARTS + 1  # the rest, planned with the decision: one statement
    with split_db.transaction(ws) as session:
        rest = session.scalars(select(Send).where(Send.occurrence == ROLLOUT)).one()
    rows = [r for r in deliveries(split_db, ws) if r.send_id == rest.id]
    assert len(rows) == rest.planned_count and {r.variant for r in rows} == {"B"}
    assert len({r.user_id for r in deliveries(split_db, ws)}) == USERS
