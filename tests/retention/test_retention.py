import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.kit.ids import uuid7_floor
from app.kit.jobs import Job
from app.models import Event
from app.models.base import utcnow
from app.retention.service import purge_events_batch
from app.worker.inprocess import InProcessWorker


def _track(client, tenant, n, user="u1"):
    events = [{"user_id": user, "name": "app_open"} for _ in range(n)]
    assert (
        client.post("/v1/events/batch", json={"events": events}, headers=tenant.secret_headers).status_code
        == 200
    )


def _age_events(database, tenant, days):
    """Rewrite ids so the events look received ``days`` ago (ids encode receive time)."""
    floor = uuid7_floor(int((utcnow() - timedelta(days=days)).timestamp() * 1000)).int
    with database.transaction(tenant.workspace_id) as session:
        for event_id in list(session.scalars(select(Event.id))):
            aged = uuid.UUID(int=floor | (event_id.int & ((1 << 62) - 1)))  # keep the random bits
            session.execute(update(Event).where(Event.id == event_id).values(id=aged))


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
    assert worker.run_now(Job("retention.purge")) == 0  # retention unset: keep everything
    monkeypatch.setattr(database, "settings", settings.model_copy(update={"event_retention_days": 7}))
    assert worker.run_now(Job("retention.purge")) == 12
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
    assert client.get("/v1/users/nobody/export", headers=headers).status_code == 404
