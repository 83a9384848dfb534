"""Pause, resume and cancel take effect within one chunk; resume continues where it stopped."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from app.campaigns import planner, service
from app.campaigns.schemas import CampaignCreate
from app.models import CampaignStatus
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries, statuses


def _start(database, ws, users=50):
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(users)])
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body()))
        campaign, jobs = service.launch(session, campaign.id, now=T0)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0, limit=2)  # plan, then one chunk
    return campaign.id, lanes


def test_pause_stops_after_the_chunk_in_flight_and_resume_continues(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=10)
    ws = tenant.workspace_id
    campaign_id, lanes = _start(database, ws)
    assert statuses(database, ws) == {"sent": 10, "queued": 40}
    with database.transaction(ws) as session:
        service.pause(session, campaign_id)
    lanes.run(T0)
    lanes.settle(T0.replace(hour=2))
    assert statuses(database, ws) == {"sent": 10, "queued": 40}
    assert {r.stopped for r in lanes.reports[1:]} == {"campaign paused"}
    with database.transaction(ws) as session:
        campaign, jobs = service.resume(
            session, campaign_id, settings=database.settings, now=T0.replace(hour=3)
        )
    assert campaign.status == CampaignStatus.running
    lanes.emit(jobs)
    lanes.run(T0.replace(hour=3))
    assert statuses(database, ws) == {"sent": 50}
    assert set(Counter(m.user_id for m in recording.messages).values()) == {1}


def test_cancel_marks_queued_rows_cancelled(tuned, tenant, recording):
    database = tuned(dispatch_chunk_size=10)
    ws = tenant.workspace_id
    campaign_id, lanes = _start(database, ws)
    with database.transaction(ws) as session:
        _campaign, jobs = service.cancel(session, campaign_id, now=T0)
    assert [j.name for j in jobs] == ["campaigns.cancel_queued"]
    assert planner.cancel_queued(database, ws, campaign_id) == 40
    lanes.run(T0)
    lanes.settle(T0.replace(hour=1))
    assert statuses(database, ws) == {"sent": 10, "cancelled": 40}
    assert len(recording.messages) == 10
    with database.transaction(ws) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.cancelled


class _WorkerDied(Exception):
    pass


def test_rows_of_a_dead_claim_are_queued_at_once_and_sent_once(tuned, tenant, recording):
    """Postgres: a claim locks its rows in the chunk's transaction and writes nothing, so a
    worker dying mid-send leaves them ``queued``, claimable as soon as the server rolls back."""
    from datetime import timedelta

    from app.delivery import ledger

    database = tuned(dispatch_chunk_size=10)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(30)])
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body()))
        campaign, jobs = service.launch(session, campaign.id, now=T0)
    lanes = Lanes(database)
    lanes.emit(jobs[:1])
    lanes.run(T0, limit=1)  # planned; lanes queued but not run yet
    send_id = uuid.UUID(jobs[0].kwargs["send_id"])
    with pytest.raises(_WorkerDied), database.transaction(ws) as session:
        assert ledger.holds_claims(session)
        dead = ledger.claim(session, ws, send_id, now=T0, lease_until=T0 + timedelta(seconds=5), limit=10)
        lanes.run(T0)  # the live lanes skip the locked rows
        assert statuses(database, ws) == {"sent": 20, "queued": 10}
        raise _WorkerDied  # mid-send: the transaction is rolled back
    assert statuses(database, ws) == {"sent": 20, "queued": 10}
    lanes.settle(T0 + timedelta(minutes=2))  # the lanes went quiet: the planner restarts them
    assert statuses(database, ws) == {"sent": 30}
    assert {m.delivery_id for m in recording.messages} >= {d.id for d in dead}
    assert len(recording.messages) == 30
    assert {r.attempts for r in deliveries(database, ws)} == {1}  # a crash is not an attempt


@pytest.mark.smoke
def test_rows_of_a_dead_lease_are_reclaimed_and_sent_once(backend, tuned, tenant, recording):
    """SQLite: a claim moves its rows to ``sending`` under a lease and commits; the planner puts
    them back when the lease expires."""
    from datetime import timedelta

    from prometheus_client import REGISTRY

    from app.delivery import ledger

    if backend == "postgres":
        pytest.skip("Postgres holds claims in the chunk's transaction (the test above)")
    database = tuned(dispatch_chunk_size=10, dispatch_lease_s=5.0)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(30)])
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body()))
        campaign, jobs = service.launch(session, campaign.id, now=T0)
    lanes = Lanes(database)
    lanes.emit(jobs[:1])
    lanes.run(T0, limit=1)  # planned; lanes queued but not run yet
    send_id = jobs[0].kwargs["send_id"]
    with database.transaction(ws) as session:  # a worker claims the first chunk, then dies
        dead = ledger.claim(
            session, ws, uuid.UUID(send_id), now=T0, lease_until=T0 + timedelta(seconds=5), limit=10
        )
    lanes.run(T0)  # the live lanes continue past the dead claim
    assert statuses(database, ws) == {"sent": 20, "sending": 10}
    reclaimed = REGISTRY.get_sample_value("nudge_leases_reclaimed_total") or 0
    lanes.settle(T0 + timedelta(seconds=6))  # lease expired: back to queued, behind no lane
    assert REGISTRY.get_sample_value("nudge_leases_reclaimed_total") == reclaimed + 10
    lanes.settle(T0 + timedelta(minutes=2))  # the lanes went quiet: the planner restarts them
    assert statuses(database, ws) == {"sent": 30}
    assert {m.delivery_id for m in recording.messages} >= {d.id for d in dead}
    assert len(recording.messages) == 30
    rows = {r.id: r for r in deliveries(database, ws)}
    assert all(rows[d.id].attempts == 2 for d in dead)
