import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.kit.ids import uuid7_floor
from app.kit.jobs import Job
from app.models import Delivery, Event, InboxItem, JourneyState, JourneyStep
from app.models.base import utcnow
from app.retention.service import purge_deliveries_batch, purge_events_batch, purge_journey_steps_batch
from app.worker.inprocess import InProcessWorker
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body
from tests.fixtures.assertions import ok
from tests.journeys.helpers import Sim, api_journey, enter, paths

BYE = {"id": "bye", "type": "exit"}


def _track(client, tenant, n, user="u1"):
    events = [{"user_id": user, "name": "app_open"} for _ in range(n)]
    assert (
        client.post("/v1/events/batch", json={"events": events}, headers=tenant.secret_headers).status_code
        == 200
    )


def _aged(row_id, days):
    """The id ``row_id`` would have had ``days`` ago (ids encode when they were made)."""
    floor = uuid7_floor(int((utcnow() - timedelta(days=days)).timestamp() * 1000)).int
    return uuid.UUID(int=floor | (row_id.int & ((1 << 62) - 1)))  # keep the random bits


def _age_events(database, tenant, days):
    with database.transaction(tenant.workspace_id) as session:
        for event_id in list(session.scalars(select(Event.id))):
            session.execute(update(Event).where(Event.id == event_id).values(id=_aged(event_id, days)))


def _count(database, tenant):
    with database.transaction(tenant.workspace_id) as session:
        return session.scalar(select(func.count()).select_from(Event))


@pytest.mark.smoke
def test_purge_deletes_only_old_events_of_each_workspace(client, database, tenant, other_tenant):
    _track(client, tenant, 30)
    _age_events(database, tenant, 40)
    _track(client, tenant, 5, user="fresh")
    _track(client, other_tenant, 7)
    with database.transaction(tenant.workspace_id) as session:
        assert purge_events_batch(session, utcnow() - timedelta(days=30)) == 30
    assert _count(database, tenant) == 5
    assert _count(database, other_tenant) == 7


def test_retention_task_uses_the_setting(client, database, tenant, settings, monkeypatch):
    _track(client, tenant, 12)
    _age_events(database, tenant, 10)
    worker = InProcessWorker(database)
    # Retention unset: keep everything.
    assert worker.run_now(Job("retention.purge")) == {"events": 0, "deliveries": 0, "journey_steps": 0}
    monkeypatch.setattr(database, "settings", settings.model_copy(update={"event_retention_days": 7}))
    assert worker.run_now(Job("retention.purge")) == {"events": 12, "deliveries": 0, "journey_steps": 0}
    assert _count(database, tenant) == 0


def test_export_holds_everything_about_one_user(client, tenant):
    headers = tenant.secret_headers
    client.put(
        "/v1/users/ex1", json={"email": "ex@example.com", "attributes": {"plan": "pro"}}, headers=headers
    )
    client.post("/v1/users/ex1/devices", json={"platform": "fcm", "token": "f" * 40}, headers=headers)
    _track(client, tenant, 3, user="ex1")
    _track(client, tenant, 2, user="someone-else")
    body = client.get("/v1/users/ex1/export", headers=headers).json()
    assert body["user"]["email"] == "ex@example.com"
    assert body["user"]["attributes"] == {"plan": "pro"}
    assert [d["token"] for d in body["devices"]] == ["f" * 40]
    assert len(body["events"]) == 3
    assert body["deliveries"] == body["inbox_items"] == body["engagements"] == []


def test_export_holds_the_user_messages(client, database, tenant):
    headers = tenant.secret_headers
    client.put("/v1/users/ex2", json={"email": "ex2@example.com"}, headers=headers)
    client.post("/v1/users/ex2/devices", json={"platform": "apns", "token": "a" * 64}, headers=headers)
    _in_app_campaign(database, tenant, 2, existing=["ex2"])
    body = client.get("/v1/users/ex2/export", headers=headers).json()
    [delivery] = body["deliveries"]
    assert delivery["channel"] == "in_app" and delivery["status"] == "sent"
    [item] = body["inbox_items"]
    assert item["delivery_id"] == delivery["id"] and item["content"]["body"] == "Sale!"
    assert [d["platform"] for d in body["devices"]] == ["apns"]
    assert body["preferences"] == body["trigger_entries"] == []
    assert body["frequency_state"] is None  # no frequency cap set
    assert client.get("/v1/users/nobody/export", headers=headers).status_code == 404


def _in_app_campaign(database, tenant, users, *, existing=()):
    """An in-app campaign sent to ``users`` new users (and the ``existing`` ones): one delivery
    and one inbox item each."""
    ws = tenant.workspace_id
    batch = uuid.uuid4().hex[:8]
    external_ids = [f"{batch}-{i}" for i in range(users)]
    add_users(database, ws, [{"external_id": external_id} for external_id in external_ids])
    audience = {"type": "users", "external_ids": [*external_ids, *existing]}
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(audience=audience)))
        _, jobs = service.launch(session, campaign.id, now=utcnow())
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(utcnow())


def _age_deliveries(database, tenant, days, *, leave_queued=0):
    """Make every delivery (and its inbox item) look ``days`` old; ``leave_queued`` of them are
    put back to ``queued``, as if still owed a send."""
    with database.transaction(tenant.workspace_id) as session:
        for n, delivery_id in enumerate(list(session.scalars(select(Delivery.id).order_by(Delivery.id)))):
            aged = _aged(delivery_id, days)
            status = {"status": "queued"} if n < leave_queued else {}
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(id=aged, **status))
            session.execute(
                update(InboxItem).where(InboxItem.delivery_id == delivery_id).values(delivery_id=aged)
            )


def _ledger(database, tenant):
    with database.transaction(tenant.workspace_id) as session:
        deliveries = dict(
            session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        return deliveries, session.scalar(select(func.count()).select_from(InboxItem))


@pytest.mark.smoke
def test_delivery_purge_keeps_recent_unfinished_and_other_workspaces(database, tenant, other_tenant):
    _in_app_campaign(database, tenant, 6)
    _age_deliveries(database, tenant, 40, leave_queued=1)
    _in_app_campaign(database, tenant, 2)  # recent
    _in_app_campaign(database, other_tenant, 3)
    _age_deliveries(database, other_tenant, 40)
    assert _ledger(database, tenant) == ({"sent": 7, "queued": 1}, 8)
    with database.transaction(tenant.workspace_id) as session:
        assert purge_deliveries_batch(session, utcnow() - timedelta(days=30)) == 5
    # The old queued row is still owed a send, so it stays, with its inbox item.
    assert _ledger(database, tenant) == ({"sent": 2, "queued": 1}, 3)
    assert _ledger(database, other_tenant) == ({"sent": 3}, 3)


def test_retention_task_purges_deliveries_by_setting(database, tenant, settings, monkeypatch):
    _in_app_campaign(database, tenant, 4)
    _age_deliveries(database, tenant, 10)
    worker = InProcessWorker(database)
    monkeypatch.setattr(database, "settings", settings.model_copy(update={"delivery_retention_days": 30}))
    assert worker.run_now(Job("retention.purge")) == {"events": 0, "deliveries": 0, "journey_steps": 0}
    monkeypatch.setattr(database, "settings", settings.model_copy(update={"delivery_retention_days": 7}))
    assert worker.run_now(Job("retention.purge")) == {"events": 0, "deliveries": 4, "journey_steps": 0}
    assert _ledger(database, tenant) == ({}, 0)


def _journey(client, tenant, wait_days):
    steps = [{"id": "wait", "type": "wait", "duration": {"days": wait_days}, "next": "bye"}, BYE]
    journey = ok(client.post("/v1/journeys", json=api_journey(steps), headers=tenant.secret_headers), 201)
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=tenant.secret_headers))
    return journey["id"]


def _passes_made_at_t0(database, tenant):
    """Pass ids as if the passes began at the simulated T0 (ids encode when they were made)."""
    floor = uuid7_floor(int(T0.timestamp() * 1000)).int
    with database.transaction(tenant.workspace_id) as session:
        for state_id in list(session.scalars(select(JourneyState.id))):
            aged = uuid.UUID(int=floor | (state_id.int & ((1 << 62) - 1)))
            session.execute(update(JourneyState).where(JourneyState.id == state_id).values(id=aged))
            session.execute(update(JourneyStep).where(JourneyStep.state_id == state_id).values(state_id=aged))


def _journal(database, tenant):
    found = paths(database, tenant.workspace_id)
    return {name: ([step for step, _ in p["path"]], p["status"]) for name, p in found.items()}


def test_the_journal_of_passes_that_exited_long_ago_goes_and_passes_in_flight_keep_theirs(
    client, database, tenant, other_tenant, sink, settings, monkeypatch
):
    for t in (tenant, other_tenant):
        add_users(database, t.workspace_id, [{"external_id": "ann"}, {"external_id": "bob"}])
        enter(database, t.workspace_id, _journey(client, t, 1), ["ann"], now=T0)
        enter(database, t.workspace_id, _journey(client, t, 300), ["bob"], now=T0)
        _passes_made_at_t0(database, t)
    sim = Sim(database, sink)
    sim.run(T0)
    sim.run(T0 + timedelta(days=1))
    before = {"ann#1": (["wait", "bye"], "exited"), "bob#1": (["wait"], "active")}
    assert _journal(database, tenant) == before

    with database.transaction(tenant.workspace_id) as session:
        assert purge_journey_steps_batch(session, T0 + timedelta(hours=12)) == 0  # exited after it
        assert purge_journey_steps_batch(session, T0 + timedelta(days=2)) == 2
    assert _journal(database, tenant) == {"ann#1": ([], "exited"), "bob#1": (["wait"], "active")}
    assert _journal(database, other_tenant) == before

    monkeypatch.setattr(database, "settings", settings.model_copy(update={"delivery_retention_days": 7}))
    purged = InProcessWorker(database).run_now(Job("retention.purge"))
    assert purged["journey_steps"] == 2  # ann's in the other workspace; the bobs are in flight
    assert _journal(database, other_tenant) == {"ann#1": ([], "exited"), "bob#1": (["wait"], "active")}

    # A pass in flight goes on from where its journal says, each step once.
    sim.run(T0 + timedelta(days=301))
    assert _journal(database, tenant)["bob#1"] == (["wait", "bye"], "exited")
