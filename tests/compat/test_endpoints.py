"""Segment's HTTP Tracking API format on /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/batch."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from app.models import Event
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows, stored


def segment_auth(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def call(client, tenant, kind, body):
    return client.post(f"/v1/{kind}", json=body, headers=segment_auth(tenant.publishable))


def user(client, tenant, external_id):
    return ok(client.get(f"/v1/users/{external_id}", headers=tenant.secret_headers))


@pytest.mark.smoke
def test_identify_maps_traits_and_context_to_the_profile(client, tenant):
    assert ok(
        call(
            client,
            tenant,
            "identify",
            {
                "userId": "u1",
                "traits": {
                    "email": "ada@example.com",
                    "firstName": "Ada",
                    "last_name": "Lovelace",
                    "phone": "+44 20 7946 0000",
                    "country": "gb",
                    "plan": "pro",
                    "seats": 3,
                },
                "context": {"timezone": "Europe/London", "locale": "en-GB", "ip": "192.0.2.1"},
                "integrations": {"All": True},
                "_metadata": {"bundled": []},
            },
        )
    ) == {"success": True, "results": None}
    profile = user(client, tenant, "u1")
    assert (profile["email"], profile["first_name"], profile["last_name"]) == (
        "ada@example.com",
        "Ada",
        "Lovelace",
    )
    assert (profile["phone"], profile["country"]) == ("+44 20 7946 0000", "GB")
    assert (profile["timezone"], profile["locale"]) == ("Europe/London", "en-GB")
    assert profile["attributes"] == {"plan": "pro", "seats": 3}


def test_a_zone_in_traits_wins_over_the_context(client, tenant):
    ok(
        call(
            client,
            tenant,
            "identify",
            {
                "userId": "u1",
                "traits": {"timezone": "Asia/Kathmandu"},
                "context": {"timezone": "Europe/London"},
            },
        )
    )
    assert user(client, tenant, "u1")["timezone"] == "Asia/Kathmandu"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"userId": "u1", "traits": {"email": "not-an-email"}}, "traits.email"),
        ({"userId": "u1", "traits": {"firstName": "x" * 101}}, "traits.firstName"),
        ({"userId": "u1", "traits": {"timezone": "Mars/Base"}}, "traits.timezone"),
        ({"userId": "u1", "context": {"timezone": "GMT+2"}}, "context.timezone"),
        ({"traits": {"plan": "pro"}}, "body"),
        ({"userId": "", "anonymousId": None}, "userId"),
        ({"userId": "u1", "traits": ["not", "an", "object"]}, "traits"),
    ],
)
def test_identify_refuses_bad_input_by_the_callers_field_name(client, tenant, owner_engine, message, field):
    error = error_of(call(client, tenant, "identify", message), 422)
    assert error["field"] == field, error
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


def test_anonymous_ids_identify_users_too(client, tenant):
    ok(call(client, tenant, "identify", {"anonymousId": "anon-7", "traits": {"plan": "free"}}))
    ok(call(client, tenant, "track", {"anonymousId": "anon-7", "event": "open"}))
    assert user(client, tenant, "anon-7")["attributes"] == {"plan": "free"}
    both = {"userId": "u1", "anonymousId": "anon-8", "event": "open"}
    ok(call(client, tenant, "track", both))
    user(client, tenant, "u1")


@pytest.mark.smoke
def test_track_page_and_screen_become_events(client, tenant, database):
    ok(
        call(
            client,
            tenant,
            "track",
            {
                "userId": "u1",
                "event": "Order Completed",
                "properties": {"revenue": 9.99},
                "timestamp": "2026-01-02T03:04:05+01:00",
            },
        )
    )
    ok(
        call(
            client,
            tenant,
            "page",
            {
                "userId": "u1",
                "name": "Pricing",
                "category": "Docs",
                "properties": {"url": "https://example.com/pricing"},
            },
        )
    )
    ok(call(client, tenant, "screen", {"userId": "u1", "name": "Home"}))
    ok(call(client, tenant, "page", {"userId": "u1"}))
    events = sorted(stored(database, tenant, Event), key=lambda e: (e.name, len(e.properties)))
    by_name = [(e.name, e.properties) for e in events]
    assert by_name == [
        ("Order Completed", {"revenue": 9.99}),
        ("page_view", {}),
        ("page_view", {"url": "https://example.com/pricing", "name": "Pricing", "category": "Docs"}),
        ("screen_view", {"name": "Home"}),
    ]
    order = next(e for e in events if e.name == "Order Completed")
    assert order.occurred_at == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)


def test_message_id_dedupes_segment_retries(client, tenant, owner_engine):
    message = {"userId": "u1", "event": "open", "messageId": "ajs-1"}
    ok(call(client, tenant, "track", message))
    ok(call(client, tenant, "track", message))
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1


@pytest.mark.parametrize(
    ("kind", "message", "field"),
    [
        ("track", {"userId": "u1"}, "event"),
        ("track", {"userId": "u1", "event": ""}, "event"),
        ("track", {"event": "open"}, "body"),
        ("track", {"userId": "u1", "event": "e", "timestamp": "yesterday"}, "timestamp"),
        ("track", {"userId": "u1", "event": "e", "properties": 3}, "properties"),
        ("page", {"userId": "u1", "name": "n" * 201}, "name"),
    ],
)
def test_bad_calls_are_refused_by_field(client, tenant, owner_engine, kind, message, field):
    assert error_of(call(client, tenant, kind, message), 422)["field"] == field
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 0


@pytest.mark.smoke
def test_batch_reports_each_call(client, tenant, owner_engine):
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com"}},
            {"type": "track", "userId": "u1", "event": "open", "messageId": "m-1"},
            {"type": "track", "userId": "u1", "event": "open", "messageId": "m-1"},
            {"type": "page", "userId": "u2", "name": "Home"},
            {"type": "screen", "anonymousId": "a-1", "name": "Home"},
            {"type": "group", "userId": "u1", "groupId": "g-1"},
            {"type": "alias", "userId": "u1", "previousId": "a-1"},
            {"type": "identify", "userId": "u3", "traits": {"email": "broken"}},
            {"type": "track", "userId": "u1"},
            {"type": "unknown", "userId": "u1"},
            "not an object",
        ],
        "context": {"library": {"name": "analytics.js"}},
        "writeKey": "ignored",
        "sentAt": "2026-01-01T00:00:00Z",
    }
    results = ok(client.post("/v1/batch", json=body, headers=segment_auth(tenant.publishable)))["results"]
    assert [r["status"] for r in results] == [
        "accepted",
        "accepted",
        "duplicate",
        "accepted",
        "accepted",
        "ignored",
        "ignored",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert [r["index"] for r in results] == list(range(len(body["batch"])))
    assert results[7]["error"]["field"] == "traits.email"
    assert results[8]["error"]["field"] == "event"
    assert results[9]["error"]["field"] == "type"
    assert user(client, tenant, "u1")["email"] == "u1@example.com"
    assert client.get("/v1/users/u3", headers=tenant.secret_headers).status_code == 404
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 3


def test_batch_context_reaches_calls_without_their_own(client, tenant):
    body = {
        "batch": [
            {"type": "identify", "userId": "u1"},
            {"type": "identify", "userId": "u2", "context": {"timezone": "Asia/Tokyo"}},
        ],
        "context": {"timezone": "America/St_Johns"},
    }
    ok(client.post("/v1/batch", json=body, headers=segment_auth(tenant.publishable)))
    assert user(client, tenant, "u1")["timezone"] == "America/St_Johns"
    assert user(client, tenant, "u2")["timezone"] == "Asia/Tokyo"


def test_batch_size_is_limited(client, tenant, owner_engine):
    body = {"batch": [{"type": "track", "userId": "u1", "event": "e"}] * 1001}
    error = error_of(client.post("/v1/batch", json=body, headers=segment_auth(tenant.publishable)), 422)
    assert error["field"] == "batch"
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 0


@pytest.mark.smoke
def test_a_rejected_identify_in_a_batch_leaves_nothing_behind(client, tenant, owner_engine):
    too_many = {f"t{n}": n for n in range(300)}
    body = {
        "batch": [
            {"type": "identify", "userId": "u9", "traits": too_many},
            {"type": "track", "userId": "u1", "event": "open"},
        ]
    }
    results = ok(client.post("/v1/batch", json=body, headers=segment_auth(tenant.publishable)))["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted"]
    assert results[0]["error"]["code"] == "limit_exceeded"
    assert client.get("/v1/users/u9", headers=tenant.secret_headers).status_code == 404
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 1
