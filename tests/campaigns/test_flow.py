from __future__ import annotations

import uuid

import pytest

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.models import CampaignStatus
from app.models.base import utcnow
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries, statuses


def _launch(database, workspace_id, at=T0, **overrides):
    with database.transaction(workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(**overrides)))
        campaign, jobs = service.launch(session, campaign.id, now=at)
    return campaign.id, jobs


@pytest.mark.smoke
def test_immediate_campaign_reaches_everyone_once(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}", "first_name": f"N{i}"} for i in range(25)])
    campaign_id, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 25}
    assert sorted(m.content["title"] for m in recording.messages) == sorted(f"Hi N{i}" for i in range(25))
    assert len({m.delivery_id for m in recording.messages}) == 25
    # The planner finds nothing more to do, twice; the campaign completes.
    lanes.settle(T0)
    lanes.settle(T0)
    assert statuses(database, ws) == {"sent": 25}
    assert len(recording.messages) == 25
    with database.transaction(ws) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.completed


def test_chunks_continue_lanes_until_done(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=7)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(50)])
    _, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 50}
    assert max(r.claimed for r in lanes.reports) == 7


def test_variants_and_control_are_stable(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(2000)])
    variants = [
        {"key": "A", "weight": 3, "content": {"body": "a"}},
        {"key": "B", "weight": 1, "content": {"body": "b"}},
    ]
    campaign_id, jobs = _launch(database, ws, variants=variants, control_percent=20)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    rows = deliveries(database, ws)
    by_variant = {v: sum(1 for r in rows if r.variant == v) for v in ("A", "B", "control")}
    assert all(r.status == "suppressed:control" for r in rows if r.variant == "control")
    assert 300 <= by_variant["control"] <= 500  # 20 % of 2,000
    assert 2.4 <= by_variant["A"] / by_variant["B"] <= 3.8  # weights 3:1
    assert {m.content["body"] for m in recording.messages} == {"a", "b"}
    from app.delivery.rules import assign_variant

    for row in rows[:50]:
        assert row.variant == assign_variant(campaign_id, row.user_id, variants, 20)


def test_unsubscribed_and_missing_address_are_suppressed(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(
        database,
        ws,
        [
            {"external_id": "ok", "email": "ok@example.com"},
            {"external_id": "gone", "email": "gone@example.com", "email_status": "unsubscribed"},
            {"external_id": "nomail"},
        ],
    )
    _, jobs = _launch(
        database, ws, channel="email", variants=[{"key": "A", "content": {"subject": "S", "text": "T"}}]
    )
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 1, "suppressed:unsubscribed": 1, "suppressed:no_address": 1}
    assert [m.address for m in recording.messages] == [{"email": "ok@example.com"}]


def test_explicit_list_audience(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(10)])
    _, jobs = _launch(database, ws, audience={"type": "users", "external_ids": ["u1", "u3", "nobody"]})
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 2}


def test_provider_failures_and_retries(database, tenant, recording):
    from app.channels.base import Outcome

    ws = tenant.workspace_id
    bad, flaky, _good = add_users(database, ws, [{"external_id": x} for x in ("bad", "flaky", "good")])
    recording.outcome_for = {str(bad): Outcome.failed, str(flaky): Outcome.retry}
    _, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 1, "failed": 1, "queued": 1}
    recording.outcome_for = {str(bad): Outcome.failed}
    later = T0.replace(minute=5)
    lanes.settle(later)
    assert statuses(database, ws) == {"sent": 2, "failed": 1}
    flaky_row = next(r for r in deliveries(database, ws) if r.user_id == flaky)
    assert flaky_row.attempts == 2


def test_double_launch_and_double_plan_create_nothing_twice(database, tenant, recording):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(30)])
    _, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs + jobs)  # the plan job twice
    lanes.run(T0)
    lanes.settle(T0)
    assert statuses(database, ws) == {"sent": 30}
    assert len(recording.messages) == 30


def test_tenant_rows_stay_in_their_workspace(database, tenant, other_tenant, recording):
    add_users(database, tenant.workspace_id, [{"external_id": "a"}])
    add_users(database, other_tenant.workspace_id, [{"external_id": "b"}])
    _, jobs = _launch(database, tenant.workspace_id)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    assert statuses(database, tenant.workspace_id) == {"sent": 1}
    assert statuses(database, other_tenant.workspace_id) == {}
    assert {m.workspace_id for m in recording.messages} == {tenant.workspace_id}
    assert all(isinstance(m.delivery_id, uuid.UUID) for m in recording.messages)


@pytest.mark.smoke
def test_user_erased_after_planning_takes_their_delivery_and_nothing_is_stuck(database, tenant, recording):
    from app.users import service as users

    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": x} for x in ("stays", "goes")])
    campaign_id, jobs = _launch(database, ws)
    lanes = Lanes(database)
    lanes.emit(jobs[:1])
    lanes.run(T0, limit=1)  # planned, not dispatched
    with database.transaction(ws) as session:
        users.erase(session, "goes")
    assert statuses(database, ws) == {"queued": 1}  # erasure removed the user's ledger row
    lanes.run(T0)
    assert statuses(database, ws) == {"sent": 1}
    assert len(recording.messages) == 1
    lanes.settle(T0)
    with database.transaction(ws) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.completed


@pytest.mark.smoke
def test_embedded_worker_runs_plan_and_lanes(database, tenant, recording):
    from app.worker.inprocess import InProcessWorker

    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(40)])
    _, jobs = _launch(database, ws, at=utcnow())
    worker = InProcessWorker(database)
    worker.start()
    try:
        for job in jobs:
            worker.send(job)
        worker.drain()
    finally:
        worker.stop()
    assert statuses(database, ws) == {"sent": 40}
    assert len(recording.messages) == 40


def test_empty_audience_completes(database, tenant, recording):
    campaign_id, jobs = _launch(database, tenant.workspace_id)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    lanes.settle(T0)
    with database.transaction(tenant.workspace_id) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.completed


def test_local_time_campaign_with_nobody_completes(database, tenant, recording):
    schedule = {"type": "local", "date": "2026-03-02", "time": "09:00"}
    campaign_id, _ = _launch(database, tenant.workspace_id, schedule=schedule)
    Lanes(database).settle(T0.replace(day=4))
    with database.transaction(tenant.workspace_id) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.completed
