from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.events.schemas import MAX_BATCH
from app.events.service import MAX_PROPERTIES_BYTES
from app.models import Event, User
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows, stored


def track(client, tenant, event, *, publishable=False):
    headers = tenant.publishable_headers if publishable else tenant.secret_headers
    return client.post("/v1/events", json=event, headers=headers)


def track_batch(client, tenant, events):
    return ok(client.post("/v1/events/batch", json={"events": events}, headers=tenant.secret_headers))


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.smoke
def test_track_stores_the_event_and_creates_an_unknown_user(client, tenant, database):
    body = ok(
        track(
            client,
            tenant,
            {"user_id": "new-user", "name": "purchase", "properties": {"value": 19.9, "items": ["a", "b"]}},
        )
    )
    assert body["status"] == "accepted" and body["id"]
    (event,) = stored(database, tenant, Event)
    assert (str(event.id), event.name, event.properties) == (
        body["id"],
        "purchase",
        {"value": 19.9, "items": ["a", "b"]},
    )
    (user,) = stored(database, tenant, User)
    assert user.external_id == "new-user" and event.user_id == user.id


@pytest.mark.smoke
def test_publishable_keys_may_track(client, tenant, owner_engine):
    ok(track(client, tenant, {"user_id": "u1", "name": "app_open"}, publishable=True))
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2026-03-29T01:30:00", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        ("2026-03-29T07:15:00+05:45", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        ("2026-03-28T15:30:00-10:00", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_client_times_are_stored_as_utc(client, tenant, database, sent, expected):
    ok(track(client, tenant, {"user_id": "u1", "name": "e", "timestamp": sent}))
    (event,) = stored(database, tenant, Event)
    assert event.occurred_at == expected and event.occurred_at.utcoffset() == timedelta(0)


def test_without_a_timestamp_the_event_happened_now(client, tenant, database):
    before = datetime.now(UTC)
    ok(track(client, tenant, {"user_id": "u1", "name": "e"}))
    (event,) = stored(database, tenant, Event)
    assert before <= event.occurred_at <= datetime.now(UTC)
    assert event.received_at == event.occurred_at


@pytest.mark.smoke
def test_more_than_a_day_in_the_future_is_refused(client, tenant, owner_engine):
    now = datetime.now(UTC)
    ok(track(client, tenant, {"user_id": "u1", "name": "e", "timestamp": iso(now + timedelta(hours=23))}))
    late = {"user_id": "u2", "name": "e", "timestamp": iso(now + timedelta(hours=25))}
    error = error_of(track(client, tenant, late), 422)
    assert error["field"] == "timestamp"
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 1
    result = track_batch(client, tenant, [late])["results"][0]
    assert (result["status"], result["error"]["field"]) == ("rejected", "timestamp")


@pytest.mark.smoke
def test_message_id_makes_a_call_idempotent(client, tenant, owner_engine):
    event = {"user_id": "u1", "name": "purchase", "message_id": "m-1"}
    first = ok(track(client, tenant, event))
    again = ok(track(client, tenant, {**event, "name": "other name, same message"}))
    assert first["status"] == "accepted" and first["id"]
    assert again == {"status": "duplicate", "id": None}
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1


@pytest.mark.smoke
def test_batch_reports_each_item_and_stores_the_good_ones(client, tenant, owner_engine):
    future = iso(datetime.now(UTC) + timedelta(days=2))
    items = [
        {"user_id": "u1", "name": "open"},
        {"user_id": "u1"},
        {"user_id": "u2", "name": "open", "properties": "not an object"},
        5,
        {"user_id": "u3", "name": "open", "timestamp": future},
        {"user_id": "u4", "name": "open", "colour": "blue"},
        {"user_id": "u5", "name": "buy", "properties": {"value": 3}},
    ]
    body = track_batch(client, tenant, items)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "rejected", "rejected", "accepted"]
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    fields = [r["error"]["field"] if r["error"] else None for r in body["results"]]
    assert fields[1] == "name" and fields[2] == "properties" and fields[4] == "timestamp"
    assert fields[5] == "colour"
    assert all(r["error"]["code"] and r["error"]["message"] for r in body["results"] if r["error"])
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 5)
    assert all(r["id"] for r in body["results"] if r["status"] == "accepted")
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 2
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 2  # u1 and u5 only


@pytest.mark.smoke
def test_batch_dedupes_message_ids_within_the_batch_and_across_calls(client, tenant, owner_engine):
    body = track_batch(
        client,
        tenant,
        [
            {"user_id": "u1", "name": "e", "message_id": "m-1"},
            {"user_id": "u1", "name": "e", "message_id": "m-1"},
            {"user_id": "u1", "name": "e", "message_id": "m-2"},
            {"user_id": "u1", "name": "e"},
        ],
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "duplicate", "accepted", "accepted"]
    assert body["results"][1]["id"] is None
    body = track_batch(
        client,
        tenant,
        [
            {"user_id": "u1", "name": "e", "message_id": "m-2"},
            {"user_id": "u1", "name": "e", "message_id": "m-3"},
        ],
    )
    assert [r["status"] for r in body["results"]] == ["duplicate", "accepted"]
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 4


def test_batch_creates_every_unknown_user_once(client, tenant, owner_engine):
    items = [{"user_id": f"u{n % 5}", "name": "e"} for n in range(20)]
    assert track_batch(client, tenant, items)["accepted"] == 20
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 5
    ok(client.get("/v1/users/u4", headers=tenant.secret_headers))


def test_a_full_batch_is_accepted_and_one_more_is_refused(client, tenant, owner_engine):
    items = [{"user_id": f"u{n % 50}", "name": "e"} for n in range(MAX_BATCH)]
    assert track_batch(client, tenant, items)["accepted"] == MAX_BATCH
    response = client.post(
        "/v1/events/batch", json={"events": [*items, items[0]]}, headers=tenant.secret_headers
    )
    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("limit_exceeded", "events")
    assert count_rows(owner_engine, "events", tenant.workspace_id) == MAX_BATCH


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "events"), ({"events": {"user_id": "u1"}}, "events"), ({"events": [], "extra": 1}, "extra")],
)
def test_batch_envelope_is_checked(client, tenant, body, field):
    error = error_of(client.post("/v1/events/batch", json=body, headers=tenant.secret_headers), 422)
    assert error["field"] == field


def test_properties_over_the_size_limit(client, tenant, owner_engine):
    big = {"user_id": "u1", "name": "e", "properties": {"blob": "x" * MAX_PROPERTIES_BYTES}}
    error = error_of(track(client, tenant, big), 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "properties")
    result = track_batch(client, tenant, [big, {"user_id": "u1", "name": "e"}])["results"]
    assert result[0]["error"]["code"] == "payload_too_large"
    assert result[1]["status"] == "accepted"
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1


def test_events_widen_first_and_last_seen(client, tenant, database):
    ok(client.put("/v1/users/u1", json={}, headers=tenant.secret_headers), 201)
    (user,) = stored(database, tenant, User)
    created = user.first_seen_at
    later, earlier = created + timedelta(hours=2), created - timedelta(days=10)
    ok(track(client, tenant, {"user_id": "u1", "name": "e", "timestamp": iso(later)}))
    ok(track(client, tenant, {"user_id": "u1", "name": "e", "timestamp": iso(earlier)}))
    ok(track(client, tenant, {"user_id": "u1", "name": "e", "timestamp": iso(created - timedelta(days=1))}))
    (user,) = stored(database, tenant, User)
    assert (user.first_seen_at, user.last_seen_at) == (earlier, later)


@pytest.mark.parametrize("known", [False, True], ids=["new-user", "known-user"])
def test_one_batch_moves_first_seen_back_to_its_earliest_event(client, tenant, database, known):
    if known:
        ok(client.put("/v1/users/u1", json={}, headers=tenant.secret_headers), 201)
    now = datetime.now(UTC)
    earliest, latest = now - timedelta(days=10), now + timedelta(hours=3)
    track_batch(
        client,
        tenant,
        [
            {"user_id": "u1", "name": "e", "timestamp": iso(latest)},
            {"user_id": "u1", "name": "e", "timestamp": iso(earliest)},
        ],
    )
    (user,) = stored(database, tenant, User)
    assert (user.first_seen_at, user.last_seen_at) == (earliest, latest)
