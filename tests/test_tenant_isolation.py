"""Tenants are walls: another workspace's keys can neither read nor change a workspace's rows,
through any route, through the ORM, or through raw SQL (Postgres row-level security)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from app.auth.user_signature import user_signature
from app.channels.base import OutboundMessage
from app.inbox.channel import InboxChannel
from app.models import Base, Device, Event, User
from tests.campaigns.helpers import campaign_body
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows
from tests.journeys.helpers import abandoned_cart

TENANT_TABLES = sorted(
    t.name for t in Base.metadata.sorted_tables if "workspace_id" in t.c and t.name != "api_keys"
)


WEBHOOK = {"url": "https://hooks.a.example/nudge", "secret": "a-secret-of-workspace-a"}


def deliver_to_inbox(database, tenant, external_id) -> None:
    with database.session(tenant.workspace_id) as session:
        user_id = session.scalars(select(User.id).where(User.external_id == external_id)).one()
    content = {"layout": "banner", "title": "Hello", "body": "For alice only"}
    message = OutboundMessage(uuid.uuid4(), tenant.workspace_id, user_id, "in_app", {}, content)
    asyncio.run(InboxChannel(database, None).send([message]))


def inbox_headers(settings, tenant, external_id, *, secret=False) -> dict[str, str]:
    if secret:
        return {**tenant.secret_headers, "X-Nudge-User": external_id}
    signature = user_signature(settings, tenant.workspace_id, external_id)
    return {**tenant.publishable_headers, "X-Nudge-User": external_id, "X-Nudge-User-Signature": signature}


@pytest.fixture
def alice(client, tenant, database):
    """Workspace A's data: a user with a device, events, an inbox item and preferences, a
    provider and an extra key."""
    h = tenant.secret_headers
    profile = {"email": "alice@a.example", "attributes": {"plan": "pro"}}
    ok(client.put("/v1/users/alice", json=profile, headers=h), 201)
    fcm = {"platform": "fcm", "token": "alice-phone"}
    device = ok(client.post("/v1/users/alice/devices", json=fcm, headers=h))
    ok(client.post("/v1/events", json={"user_id": "alice", "name": "buy", "message_id": "m-1"}, headers=h))
    idem = {**h, "Idempotency-Key": "shared-key"}
    ok(client.post("/v1/events", json={"user_id": "alice", "name": "open"}, headers=idem))
    key = ok(client.post("/v1/keys", json={"kind": "secret", "name": "ci"}, headers=h), 201)
    ok(client.put("/v1/providers/webhook", json=WEBHOOK, headers=h))
    change = {"changes": [{"channel": "email", "category": "news", "subscribed": False}]}
    ok(client.patch("/v1/users/alice/preferences", json=change, headers=h))
    deliver_to_inbox(database, tenant, "alice")
    (item,) = ok(client.get("/v1/inbox", headers={**h, "X-Nudge-User": "alice"}))["data"]
    campaign = ok(client.post("/v1/campaigns", json=campaign_body(), headers=h), 201)
    match = {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}
    pro = {"name": "Pro", "definition": {"version": 1, "match": match}}
    segment = ok(client.post("/v1/segments", json=pro, headers=h), 201)
    journey = ok(client.post("/v1/journeys", json=abandoned_cart(), headers=h), 201)
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    rules = [{"segment_id": segment["id"], "value": "Pro"}]
    banner = {"key": "banner", "type": "string", "default": "Hi", "rules": rules}
    ok(client.post("/v1/variables", json=banner, headers=h), 201)
    sizes = [{"key": "small", "value": 10}, {"key": "large", "value": 25}]
    discount = {"key": "discount", "type": "number", "default": 0, "variants": sizes, "experiment": "spring"}
    ok(client.post("/v1/variables", json=discount, headers=h), 201)
    ok(client.get("/v1/content", params={"user": "alice"}, headers=h))
    client.app.state.exposures.flush()  # alice's exposure is stored before anyone looks
    return {
        "device_id": device["id"],
        "key_id": key["id"],
        "key": key["key"],
        "item_id": item["id"],
        "campaign_id": campaign["id"],
        "segment_id": segment["id"],
        "journey_id": journey["id"],
    }


def owner_view(client, owner_engine, tenant) -> dict:
    """Everything workspace A can see of itself, through its own key and in its tables."""
    h = tenant.secret_headers
    users = [u["external_id"] for u in ok(client.get("/v1/users", params={"limit": 1000}, headers=h))["data"]]
    return {
        "workspace": ok(client.get("/v1/workspace", headers=h)),
        "keys": ok(client.get("/v1/keys", headers=h)),
        "providers": ok(client.get("/v1/providers", headers=h)),
        "exports": {u: ok(client.get(f"/v1/users/{u}/export", headers=h)) for u in users},
        "devices": {u: ok(client.get(f"/v1/users/{u}/devices", headers=h)) for u in users},
        "preferences": {u: ok(client.get(f"/v1/users/{u}/preferences", headers=h)) for u in users},
        "inbox": {u: ok(client.get("/v1/inbox", headers={**h, "X-Nudge-User": u})) for u in users},
        "campaigns": ok(client.get("/v1/campaigns", headers=h)),
        "segments": ok(client.get("/v1/segments", headers=h)),
        "journeys": ok(client.get("/v1/journeys", headers=h)),
        "memberships": {u: ok(client.get(f"/v1/users/{u}/segments", headers=h)) for u in users},
        "delivery_policy": ok(client.get("/v1/delivery-policy", headers=h)),
        "variables": ok(client.get("/v1/variables", params={"archived": "true"}, headers=h)),
        "content": {u: ok(client.get("/v1/content", params={"user": u}, headers=h)) for u in users},
        "experiment": ok(client.get("/v1/content/experiments/spring", params={"goal": "buy"}, headers=h)),
        "rows": {t: count_rows(owner_engine, t, tenant.workspace_id) for t in TENANT_TABLES},
    }


# Routes that name one of a workspace's rows. Another workspace's secret key gets 404 (the row
# does not exist for it); a publishable key gets 403 where it may not use the route at all.
ID_ROUTES = {
    ("GET", "/v1/users/{external_id}"): ("/v1/users/alice", None, 403),
    ("DELETE", "/v1/users/{external_id}"): ("/v1/users/alice", None, 403),
    ("GET", "/v1/users/{external_id}/devices"): ("/v1/users/alice/devices", None, 403),
    ("GET", "/v1/users/{external_id}/export"): ("/v1/users/alice/export", None, 403),
    ("GET", "/v1/users/{external_id}/preferences"): ("/v1/users/alice/preferences", None, 403),
    ("PATCH", "/v1/users/{external_id}/preferences"): (
        "/v1/users/alice/preferences",
        {"changes": [{"channel": "email", "subscribed": False}]},
        403,
    ),
    ("DELETE", "/v1/devices/{device_id}"): ("/v1/devices/{device_id}", None, 403),
    ("DELETE", "/v1/keys/{key_id}"): ("/v1/keys/{key_id}", None, 403),
    ("GET", "/v1/providers/{provider}"): ("/v1/providers/webhook", None, 403),
    ("DELETE", "/v1/providers/{provider}"): ("/v1/providers/webhook", None, 403),
    ("GET", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/{campaign_id}", None, 403),
    ("PATCH", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/{campaign_id}", {"name": "Stolen"}, 403),
    ("DELETE", "/v1/campaigns/{campaign_id}"): ("/v1/campaigns/{campaign_id}", None, 403),
    ("POST", "/v1/campaigns/{campaign_id}/launch"): ("/v1/campaigns/{campaign_id}/launch", None, 403),
    ("POST", "/v1/campaigns/{campaign_id}/pause"): ("/v1/campaigns/{campaign_id}/pause", None, 403),
    ("POST", "/v1/campaigns/{campaign_id}/resume"): ("/v1/campaigns/{campaign_id}/resume", None, 403),
    ("POST", "/v1/campaigns/{campaign_id}/cancel"): ("/v1/campaigns/{campaign_id}/cancel", None, 403),
    ("GET", "/v1/campaigns/{campaign_id}/schedule-preview"): (
        "/v1/campaigns/{campaign_id}/schedule-preview",
        None,
        403,
    ),
    ("GET", "/v1/campaigns/{campaign_id}/deliveries"): ("/v1/campaigns/{campaign_id}/deliveries", None, 403),
    ("GET", "/v1/segments/{segment_id}"): ("/v1/segments/{segment_id}", None, 403),
    ("PATCH", "/v1/segments/{segment_id}"): ("/v1/segments/{segment_id}", {"name": "Stolen"}, 403),
    ("DELETE", "/v1/segments/{segment_id}"): ("/v1/segments/{segment_id}", None, 403),
    ("GET", "/v1/segments/{segment_id}/count"): ("/v1/segments/{segment_id}/count", None, 403),
    ("GET", "/v1/segments/{segment_id}/users"): ("/v1/segments/{segment_id}/users", None, 403),
    ("GET", "/v1/segments/{segment_id}/users/{external_id}"): (
        "/v1/segments/{segment_id}/users/alice",
        None,
        403,
    ),
    ("GET", "/v1/users/{external_id}/segments"): ("/v1/users/alice/segments", None, 403),
    ("GET", "/v1/reports/campaigns/{campaign_id}"): ("/v1/reports/campaigns/{campaign_id}", None, 403),
    ("GET", "/v1/reports/campaigns/{campaign_id}/timeline"): (
        "/v1/reports/campaigns/{campaign_id}/timeline",
        None,
        403,
    ),
    ("GET", "/v1/journeys/{journey_id}"): ("/v1/journeys/{journey_id}", None, 403),
    ("PATCH", "/v1/journeys/{journey_id}"): ("/v1/journeys/{journey_id}", {"name": "Stolen"}, 403),
    ("POST", "/v1/journeys/{journey_id}/launch"): ("/v1/journeys/{journey_id}/launch", None, 403),
    ("POST", "/v1/journeys/{journey_id}/pause"): ("/v1/journeys/{journey_id}/pause", None, 403),
    ("POST", "/v1/journeys/{journey_id}/archive"): ("/v1/journeys/{journey_id}/archive", None, 403),
    ("POST", "/v1/journeys/{journey_id}/entries"): (
        "/v1/journeys/{journey_id}/entries",
        {"user_id": "alice"},
        403,
    ),
    ("GET", "/v1/journeys/{journey_id}/stats"): ("/v1/journeys/{journey_id}/stats", None, 403),
    ("GET", "/v1/variables/{key}"): ("/v1/variables/banner", None, 403),
    ("PATCH", "/v1/variables/{key}"): ("/v1/variables/banner", {"default": "Stolen"}, 403),
    ("DELETE", "/v1/variables/{key}"): ("/v1/variables/banner", None, 403),
    ("GET", "/v1/content/experiments/{experiment}"): ("/v1/content/experiments/spring?goal=buy", None, 403),
    ("POST", "/v1/devices/unregister"): (
        "/v1/devices/unregister",
        {"platform": "fcm", "token": "alice-phone"},
        404,
    ),
}
# Routes keyed by the app's own ids: another workspace writing "alice" writes its own alice.
NAMESPACED_ROUTES = {
    ("PUT", "/v1/users/{external_id}"): (
        "/v1/users/alice",
        {"email": "evil@b.example", "attributes": {"x": 1}},
    ),
    ("POST", "/v1/users"): ("/v1/users", {"external_id": "alice", "email": "evil@b.example"}),
    ("POST", "/v1/users/{external_id}/devices"): (
        "/v1/users/alice/devices",
        {"platform": "fcm", "token": "alice-phone"},
    ),
    ("POST", "/v1/events"): ("/v1/events", {"user_id": "alice", "name": "buy", "message_id": "m-1"}),
    ("POST", "/v1/events/batch"): (
        "/v1/events/batch",
        {"events": [{"user_id": "alice", "name": "buy", "message_id": "m-1"}]},
    ),
    ("POST", "/v1/identify"): ("/v1/identify", {"userId": "alice", "traits": {"email": "evil@b.example"}}),
    ("POST", "/v1/track"): ("/v1/track", {"userId": "alice", "event": "buy", "messageId": "m-1"}),
    ("POST", "/v1/batch"): ("/v1/batch", {"batch": [{"type": "track", "userId": "alice", "event": "buy"}]}),
}
# Keyed by a provider's name: another workspace setting "webhook" sets its own (secret keys only).
SECRET_NAMESPACED_ROUTES = {
    ("PUT", "/v1/providers/{provider}"): (
        "/v1/providers/webhook",
        {**WEBHOOK, "url": "https://evil.b.example/"},
    ),
}
# Inbox items are read as a user: another workspace's key, naming its own "alice", gets 404.
INBOX_ROUTES = {("POST", "/v1/inbox/{item_id}/read"), ("POST", "/v1/inbox/{item_id}/dismiss")}


def test_every_route_that_names_a_row_is_in_the_isolation_matrix(api):
    covered = set(ID_ROUTES) | set(NAMESPACED_ROUTES) | set(SECRET_NAMESPACED_ROUTES) | INBOX_ROUTES
    templated = [
        (method.upper(), path)
        for path, operations in api.openapi()["paths"].items()
        if "{" in path
        for method in operations
    ]
    assert len(templated) >= 6
    for route in templated:
        assert route in covered, f"{route} is not tested for isolation"


@pytest.mark.smoke
@pytest.mark.parametrize("route", list(ID_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("key_kind", ["secret", "publishable"])
def test_another_workspaces_key_cannot_reach_a_row(
    client, owner_engine, tenant, other_tenant, alice, route, key_kind
):
    method, _ = route
    path, body, publishable_status = ID_ROUTES[route]
    path = path.format(**alice)
    before = owner_view(client, owner_engine, tenant)
    headers = other_tenant.secret_headers if key_kind == "secret" else other_tenant.publishable_headers
    error_of(
        client.request(method, path, json=body, headers=headers),
        404 if key_kind == "secret" else publishable_status,
    )
    assert owner_view(client, owner_engine, tenant) == before
    ok(client.get("/v1/workspace", headers={"Authorization": f"Bearer {alice['key']}"}))


@pytest.mark.smoke
@pytest.mark.parametrize("route", list(NAMESPACED_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("key_kind", ["secret", "publishable"])
def test_another_workspace_writing_the_same_ids_writes_its_own_rows(
    client, owner_engine, tenant, other_tenant, alice, route, key_kind
):
    method, _ = route
    path, body = NAMESPACED_ROUTES[route]
    before = owner_view(client, owner_engine, tenant)
    headers = other_tenant.secret_headers if key_kind == "secret" else other_tenant.publishable_headers
    response = client.request(method, path, json=body, headers={**headers, "Idempotency-Key": "shared-key"})
    assert response.status_code in (200, 201), response.text
    assert "idempotent-replayed" not in response.headers
    answer = response.json()
    assert all(r["status"] == "accepted" for r in answer.get("results") or [])
    assert answer.get("status", "accepted") == "accepted"  # message_id "m-1" is A's, not B's
    assert owner_view(client, owner_engine, tenant) == before
    assert count_rows(owner_engine, "users", other_tenant.workspace_id) == 1


@pytest.mark.parametrize("route", sorted(INBOX_ROUTES), ids=lambda r: r[1])
@pytest.mark.parametrize("key_kind", ["secret", "publishable"])
def test_another_workspace_cannot_touch_an_inbox_item(
    client, owner_engine, settings, tenant, other_tenant, alice, route, key_kind
):
    ok(client.put("/v1/users/alice", json={}, headers=other_tenant.secret_headers), 201)
    before = owner_view(client, owner_engine, tenant)
    headers = inbox_headers(settings, other_tenant, "alice", secret=key_kind == "secret")
    error_of(client.request(route[0], route[1].format(**alice), headers=headers), 404)
    assert owner_view(client, owner_engine, tenant) == before


@pytest.mark.parametrize("route", list(SECRET_NAMESPACED_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_another_workspace_setting_a_provider_sets_its_own(
    client, owner_engine, tenant, other_tenant, alice, route
):
    path, body = SECRET_NAMESPACED_ROUTES[route]
    before = owner_view(client, owner_engine, tenant)
    error_of(client.request(route[0], path, json=body, headers=other_tenant.publishable_headers), 403)
    ok(client.request(route[0], path, json=body, headers=other_tenant.secret_headers))
    assert owner_view(client, owner_engine, tenant) == before
    assert ok(client.get(path, headers=other_tenant.secret_headers))["url"] == body["url"]


@pytest.mark.smoke
def test_lists_show_only_the_callers_rows(client, tenant, other_tenant, alice):
    h = other_tenant.secret_headers
    ok(client.put("/v1/users/bob", json={}, headers=h), 201)
    assert [u["external_id"] for u in ok(client.get("/v1/users", headers=h))["data"]] == ["bob"]
    assert ok(client.get("/v1/users", params={"attr.plan": "pro"}, headers=h))["data"] == []
    assert ok(client.get("/v1/users", params={"email": "alice@a.example"}, headers=h))["data"] == []
    keys = ok(client.get("/v1/keys", headers=h))
    assert len(keys) == 2 and alice["key_id"] not in {k["id"] for k in keys}
    assert ok(client.get("/v1/workspace", headers=h))["id"] == str(other_tenant.workspace_id)
    assert ok(client.get("/v1/users/bob/devices", headers=h)) == []
    assert ok(client.get("/v1/providers", headers=h)) == {}
    assert ok(client.get("/v1/inbox", headers={**h, "X-Nudge-User": "bob"}))["data"] == []
    assert ok(client.get("/v1/reports/activity", headers=tenant.secret_headers))["mau"] == 1
    assert ok(client.get("/v1/reports/activity", headers=h))["mau"] == 0
    assert ok(client.get("/v1/reports/daily", headers=h))["events"] == []
    assert [c["users"] for c in ok(client.get("/v1/reports/retention", headers=h))["cohorts"]][-1] == 1


@pytest.mark.smoke
def test_a_session_without_a_workspace_sees_no_tenant_rows(database, owner_engine, client, tenant, alice):
    assert count_rows(owner_engine, "users") == 1
    with database.session() as session:
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(Event)).all() == []
        assert session.scalars(select(Device.id)).all() == []
        assert session.execute(update(User).values(email="x@x.example")).rowcount == 0
        assert session.execute(delete(Event)).rowcount == 0
        session.commit()
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 2


@pytest.mark.smoke
def test_a_session_of_one_workspace_cannot_load_anothers_row_by_key(
    database, client, tenant, other_tenant, alice
):
    with database.session(tenant.workspace_id) as session:
        alice_id = session.scalars(select(User.id).where(User.external_id == "alice")).one()
    with database.session(other_tenant.workspace_id) as session:
        assert session.get(User, (tenant.workspace_id, alice_id)) is None
        assert session.scalars(select(User).where(User.id == alice_id)).all() == []
        assert session.execute(delete(User).where(User.id == alice_id)).rowcount == 0


def test_the_app_connects_as_a_role_that_cannot_bypass_row_level_security(database, settings):
    with database.engine.connect() as conn:
        role = conn.execute(text("SELECT current_user")).scalar_one()
        super_, bypass = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert role == settings.database_role
    assert (super_, bypass) == (False, False)


def test_every_tenant_table_forces_row_level_security(owner_engine):
    with owner_engine.connect() as conn:
        tables = {
            row.table_name
            for row in conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'workspace_id'"
                )
            )
        }
        protected = {
            row.relname
            for row in conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relrowsecurity AND c.relforcerowsecurity AND p.polname = 'tenant_isolation'"
                )
            )
        }
    assert set(TENANT_TABLES) <= tables
    # api_keys is read by hash before any workspace is known; the hash is the secret.
    assert tables - protected == {"api_keys"}


def test_raw_sql_without_the_workspace_set_sees_no_rows(
    database, owner_engine, client, tenant, other_tenant, alice
):
    ok(client.put("/v1/users/bob", json={}, headers=other_tenant.secret_headers), 201)
    for table in TENANT_TABLES:
        assert count_rows(owner_engine, table) == count_rows(owner_engine, table, tenant.workspace_id) + (
            count_rows(owner_engine, table, other_tenant.workspace_id)
        )
    with database.engine.connect() as conn:
        for table in TENANT_TABLES:
            assert conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one() == 0, table
        conn.execute(
            text("SELECT set_config('nudge.workspace_id', :w, false)"), {"w": str(tenant.workspace_id)}
        )
        users = conn.execute(text("SELECT external_id FROM users")).scalars().all()
        assert users == ["alice"]
        assert (
            conn.execute(text("UPDATE users SET email = 'x@x.example' WHERE external_id = 'bob'")).rowcount
            == 0
        )
        assert conn.execute(text("DELETE FROM users WHERE external_id = 'bob'")).rowcount == 0
        conn.rollback()
    assert count_rows(owner_engine, "users", other_tenant.workspace_id) == 1


def test_row_level_security_refuses_writing_into_another_workspace(database, tenant, other_tenant):
    with database.engine.connect() as conn:
        conn.execute(
            text("SELECT set_config('nudge.workspace_id', :w, true)"), {"w": str(tenant.workspace_id)}
        )
        with pytest.raises(DBAPIError, match="row-level security"):
            conn.execute(
                text(
                    "INSERT INTO user_erasures (workspace_id, id, erased_at, events, devices) "
                    "VALUES (:w, :i, now(), 0, 0)"
                ),
                {"w": str(other_tenant.workspace_id), "i": str(uuid.uuid4())},
            )
        conn.rollback()
