"""Triggered campaigns: ingest hands matching events over after commit; the task applies
property filters, the audience, re-entry rules, delays, local times and expiry."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.campaigns import triggers
from app.models import User
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries


@pytest.fixture(autouse=True)
def _fresh_cache():
    triggers.listener.clear()
    yield
    triggers.listener.clear()


def _launch(client, tenant, **schedule):
    body = campaign_body(schedule={"type": "triggered", "event": "purchase", **schedule})
    campaign = client.post("/v1/campaigns", json=body, headers=tenant.secret_headers).json()
    r = client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=tenant.secret_headers)
    assert r.status_code == 200 and r.json()["status"] == "running", r.text
    return campaign["id"]


def _track(client, tenant, *events):
    body = {"events": [{"timestamp": at.isoformat(), **e} for at, e in events]}
    r = client.post("/v1/events/batch", json=body, headers=tenant.secret_headers)
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


def _handle(database, ws, sink, now):
    """Run the trigger jobs the ingest queued, as the worker would."""
    touched = {}
    for job in [j for j in sink.jobs if j.name == triggers.HANDLE_TASK]:
        with database.transaction(ws) as session:
            touched |= triggers.handle(session, [uuid.UUID(i) for i in job.kwargs["event_ids"]], now=now)
    sink.jobs.clear()
    return touched


def test_ingest_hands_over_only_events_a_trigger_listens_to(client, tenant, sink, database):
    _track(client, tenant, (T0, {"user_id": "a", "name": "purchase"}))
    assert sink.jobs == []  # no live trigger: ingest queues nothing
    _launch(client, tenant, filters=[{"property": "amount", "op": "gte", "value": 50}])
    _track(
        client,
        tenant,
        (T0, {"user_id": "a", "name": "purchase", "properties": {"amount": 80}}),
        (T0, {"user_id": "b", "name": "page_view"}),
        (T0, {"user_id": "c", "name": "purchase", "properties": {"amount": 10}}),
    )
    assert [j.name for j in sink.jobs] == [triggers.HANDLE_TASK]
    assert len(sink.jobs[0].kwargs["event_ids"]) == 2  # both purchases; filters run in the task
    touched = _handle(database, tenant.workspace_id, sink, now=T0)
    assert list(touched.values()) == [True]
    rows = deliveries(database, tenant.workspace_id)
    assert len(rows) == 1 and rows[0].due_at == T0


def test_delay_reentry_once_and_dispatch(client, tenant, sink, database, recording):
    _launch(client, tenant, delay_minutes=60)
    _track(client, tenant, (T0, {"user_id": "a", "name": "purchase"}))
    _track(client, tenant, (T0 + timedelta(minutes=5), {"user_id": "a", "name": "purchase"}))
    _handle(database, tenant.workspace_id, sink, now=T0 + timedelta(minutes=5))
    rows = deliveries(database, tenant.workspace_id)
    assert len(rows) == 1 and rows[0].due_at == T0 + timedelta(hours=1)
    lanes = Lanes(database)
    lanes.settle(T0 + timedelta(minutes=59))
    assert recording.messages == []
    lanes.settle(T0 + timedelta(hours=1))
    assert len(recording.messages) == 1
    _track(client, tenant, (T0 + timedelta(days=3), {"user_id": "a", "name": "purchase"}))
    _handle(database, tenant.workspace_id, sink, now=T0 + timedelta(days=3))
    assert len(deliveries(database, tenant.workspace_id)) == 1  # once ever


def test_reentry_every_n_days(client, tenant, sink, database):
    _launch(client, tenant, reentry="every_n_days", reentry_days=2)
    for day in (0, 1, 2, 3, 4):
        at = T0 + timedelta(days=day, hours=1)
        _track(client, tenant, (at, {"user_id": "a", "name": "purchase"}))
        _handle(database, tenant.workspace_id, sink, now=at)
    assert sorted(r.due_at for r in deliveries(database, tenant.workspace_id)) == [
        T0 + timedelta(days=d, hours=1) for d in (0, 2, 4)
    ]


def test_next_local_time_and_expiry(client, tenant, sink, database, recording):
    add_users(database, tenant.workspace_id, [{"external_id": "k", "timezone": "Asia/Kathmandu"}])
    _launch(client, tenant, at_local_time="09:00", expiry_minutes=6 * 60)
    at = T0 + timedelta(hours=1)  # 06:45 in Kathmandu: 09:00 comes at 03:15Z, within the expiry
    late = T0 + timedelta(hours=10)  # 10:00 UTC (the workspace zone): the next 09:00 is past the expiry
    _track(client, tenant, (at, {"user_id": "k", "name": "purchase"}))
    _handle(database, tenant.workspace_id, sink, now=at)
    _track(client, tenant, (late, {"user_id": "other", "name": "purchase"}))
    _handle(database, tenant.workspace_id, sink, now=late)
    rows = {r.due_at: r for r in deliveries(database, tenant.workspace_id)}
    nine = T0.replace(hour=3, minute=15)
    assert set(rows) == {nine, T0 + timedelta(days=1, hours=9)}
    lanes = Lanes(database)
    lanes.settle(nine)
    lanes.settle(T0 + timedelta(days=1, hours=9))
    assert sorted(r.status for r in deliveries(database, tenant.workspace_id)) == ["expired", "sent"]


def test_audience_limits_who_enters(client, tenant, sink, database):
    body = campaign_body(
        audience={"type": "users", "external_ids": ["vip"]},
        schedule={"type": "triggered", "event": "purchase"},
    )
    campaign = client.post("/v1/campaigns", json=body, headers=tenant.secret_headers).json()
    client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=tenant.secret_headers)
    _track(
        client,
        tenant,
        (T0, {"user_id": "vip", "name": "purchase"}),
        (T0, {"user_id": "x", "name": "purchase"}),
    )
    _handle(database, tenant.workspace_id, sink, now=T0)
    assert len(deliveries(database, tenant.workspace_id)) == 1


def test_paused_trigger_stops_listening(client, tenant, sink):
    campaign_id = _launch(client, tenant)
    client.post(f"/v1/campaigns/{campaign_id}/pause", headers=tenant.secret_headers)
    _track(client, tenant, (T0, {"user_id": "a", "name": "purchase"}))
    assert sink.jobs == []


def test_triggered_send_renders_its_event(client, tenant, sink, database, recording):
    """Ingested event -> trigger task -> queued delivery -> dispatch renders that event's
    name, time and properties; a property the event lacks renders its default or empty."""
    content = {
        "title": "Still thinking about {{ event.properties.item }}?",
        "body": "{{ event.name }} at {{ event.timestamp }}, "
        "{{ event.properties.colour | default('any colour') }}{{ event.properties.size }}",
    }
    body = campaign_body(
        schedule={"type": "triggered", "event": "purchase"},
        variants=[{"key": "A", "content": content}],
    )
    campaign = client.post("/v1/campaigns", json=body, headers=tenant.secret_headers).json()
    r = client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=tenant.secret_headers)
    assert r.status_code == 200, r.text
    _track(
        client,
        tenant,
        (T0, {"user_id": "a", "name": "purchase", "properties": {"item": "red shoes", "colour": "red"}}),
        (T0 + timedelta(seconds=1), {"user_id": "b", "name": "purchase"}),
    )
    _handle(database, tenant.workspace_id, sink, now=T0 + timedelta(seconds=1))
    assert all(row.event_id is not None for row in deliveries(database, tenant.workspace_id))
    Lanes(database).settle(T0 + timedelta(seconds=1))
    by_user = {m.user_id: m.content for m in recording.messages}
    assert len(by_user) == 2
    with database.transaction(tenant.workspace_id) as session:
        ids = dict(session.execute(select(User.external_id, User.id)).all())
    assert by_user[ids["a"]] == {
        "title": "Still thinking about red shoes?",
        "body": f"purchase at {T0.isoformat()}, red",
    }
    assert by_user[ids["b"]] == {
        "title": "Still thinking about ?",
        "body": f"purchase at {(T0 + timedelta(seconds=1)).isoformat()}, any colour",
    }
