from __future__ import annotations

from datetime import datetime

import pytest

from app.campaigns import service as campaigns
from app.campaigns.schemas import CampaignCreate
from app.kit.ids import uuid7
from app.models import ContentExposure, Delivery, FrequencyState, InboxItem, TriggerEntry
from app.models.base import utcnow
from app.tracking.service import record_engagement, set_preference
from app.users import service as users
from app.users.attributes import MAX_ATTRIBUTES, MAX_KEY_LENGTH, MAX_TOTAL_BYTES
from tests.campaigns.helpers import campaign_body
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows


def put_user(client, tenant, external_id, body=None, *, publishable=False):
    headers = tenant.publishable_headers if publishable else tenant.secret_headers
    return client.put(f"/v1/users/{external_id}", json=body or {}, headers=headers)


def get_user(client, tenant, external_id):
    return ok(client.get(f"/v1/users/{external_id}", headers=tenant.secret_headers))


@pytest.mark.smoke
def test_put_creates_with_201_then_updates_with_200(client, tenant):
    created = ok(put_user(client, tenant, "u1", {"email": "ada@example.com"}), 201)
    updated = ok(put_user(client, tenant, "u1", {"first_name": "Ada"}), 200)
    assert updated["created_at"] == created["created_at"]
    assert datetime.fromisoformat(updated["updated_at"]) >= datetime.fromisoformat(created["updated_at"])
    assert get_user(client, tenant, "u1")["email"] == "ada@example.com"


@pytest.mark.smoke
def test_post_takes_the_external_id_from_the_body(client, tenant):
    body = {"external_id": "u1", "attributes": {"plan": "pro"}}
    assert ok(client.post("/v1/users", json=body, headers=tenant.secret_headers), 201)["external_id"] == "u1"
    assert client.post("/v1/users", json=body, headers=tenant.secret_headers).status_code == 200
    error = error_of(
        client.post("/v1/users", json={"email": "a@example.com"}, headers=tenant.secret_headers), 422
    )
    assert error["field"] == "external_id"


@pytest.mark.smoke
def test_partial_merge_keeps_what_is_omitted_and_null_clears(client, tenant):
    put_user(
        client,
        tenant,
        "u1",
        {
            "email": "ada@example.com",
            "timezone": "Asia/Kathmandu",
            "attributes": {"plan": "pro", "age": 36, "prefs": {"dark": True}},
        },
    )
    user = ok(put_user(client, tenant, "u1", {"email": None, "attributes": {"age": None, "team": "core"}}))
    assert user["email"] is None
    assert user["timezone"] == "Asia/Kathmandu"
    assert user["attributes"] == {"plan": "pro", "prefs": {"dark": True}, "team": "core"}
    assert get_user(client, tenant, "u1")["attributes"] == user["attributes"]


def test_reserved_fields_are_normalised(client, tenant):
    user = ok(
        put_user(
            client,
            tenant,
            "u1",
            {
                "email": "  ada@example.com ",
                "country": "np",
                "locale": "ne_NP",
                "latitude": 27.7,
                "longitude": 85.3,
            },
        ),
        201,
    )
    assert (user["email"], user["country"], user["locale"]) == ("ada@example.com", "NP", "ne-NP")
    assert (user["latitude"], user["longitude"]) == (27.7, 85.3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": 5}, "email"),
        ({"phone": "call me"}, "phone"),
        ({"country": "DEU"}, "country"),
        ({"locale": "english please"}, "locale"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": "east"}, "longitude"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"attributes": ["plan"]}, "attributes"),
        ({"add": {"tags": "a"}}, "add.tags"),
        ({"increment": {"logins": "one"}}, "increment.logins"),
        ({"nickname": "ada"}, "nickname"),
    ],
)
def test_bad_fields_are_refused_by_name_and_nothing_is_stored(client, tenant, body, field):
    error = error_of(put_user(client, tenant, "u1", body), 422)
    assert error["field"] == field
    assert error["code"] == "validation_error"
    assert client.get("/v1/users/u1", headers=tenant.secret_headers).status_code == 404


@pytest.mark.smoke
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "GMT+2", "europe/berlin", "Europe/Berlin ", "+05:45"])
def test_a_zone_that_is_not_iana_is_refused_naming_the_value(client, tenant, zone):
    put_user(client, tenant, "known", {"timezone": "Asia/Kathmandu"})
    for external_id in ("known", "new"):
        error = error_of(put_user(client, tenant, external_id, {"timezone": zone, "first_name": "X"}), 422)
        assert error["field"] == "timezone"
        assert repr(zone) in error["message"]
    assert client.get("/v1/users/new", headers=tenant.secret_headers).status_code == 404
    known = get_user(client, tenant, "known")
    assert (known["timezone"], known["first_name"]) == ("Asia/Kathmandu", None)


@pytest.mark.parametrize(
    "zone", ["Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "UTC", "Etc/GMT+2"]
)
def test_iana_zones_are_stored(client, tenant, zone):
    assert ok(put_user(client, tenant, "u1", {"timezone": zone}), 201)["timezone"] == zone


@pytest.mark.smoke
def test_set_operations_add_remove_increment(client, tenant):
    put_user(client, tenant, "u1", {"attributes": {"tags": ["a"], "score": 1.5}})
    user = ok(
        put_user(
            client,
            tenant,
            "u1",
            {
                "add": {"tags": ["b", "a", 3], "fresh": ["x"]},
                "increment": {"score": 2, "logins": 1},
            },
        )
    )
    assert user["attributes"] == {"tags": ["a", "b", 3], "fresh": ["x"], "score": 3.5, "logins": 1}
    user = ok(
        put_user(
            client,
            tenant,
            "u1",
            {"remove": {"tags": ["a", "nope"], "missing": ["z"]}, "increment": {"logins": -3}},
        )
    )
    assert user["attributes"]["tags"] == ["b", 3]
    assert user["attributes"]["missing"] == []
    assert user["attributes"]["logins"] == -2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"add": {"plan": ["x"]}}, "add.plan"),
        ({"remove": {"plan": ["pro"]}}, "remove.plan"),
        ({"increment": {"plan": 1}}, "increment.plan"),
        ({"increment": {"vip": 1}}, "increment.vip"),
        ({"increment": {"tags": 1}}, "increment.tags"),
    ],
)
def test_set_operation_type_clashes_are_refused_and_change_nothing(client, tenant, body, field):
    before = ok(
        put_user(client, tenant, "u1", {"attributes": {"plan": "pro", "vip": True, "tags": ["a"]}}), 201
    )
    error = error_of(put_user(client, tenant, "u1", {**body, "email": "changed@example.com"}), 422)
    assert error["field"] == field
    after = get_user(client, tenant, "u1")
    assert (after["attributes"], after["email"]) == (before["attributes"], None)


def test_subscriptions_per_channel(client, tenant):
    user = ok(put_user(client, tenant, "u1", {}), 201)
    assert user["subscriptions"] == {"email": "subscribed", "push": "subscribed", "in_app": "subscribed"}
    ok(put_user(client, tenant, "u1", {"subscriptions": {"email": "unsubscribed"}}))
    user = ok(put_user(client, tenant, "u1", {"subscriptions": {"push": "unsubscribed"}}))
    assert user["subscriptions"] == {"email": "unsubscribed", "push": "unsubscribed", "in_app": "subscribed"}
    user = ok(put_user(client, tenant, "u1", {"subscriptions": {"email": "subscribed"}}))
    assert user["subscriptions"]["email"] == "subscribed"


@pytest.mark.parametrize("subscriptions", [{"sms": "subscribed"}, {"email": "maybe"}, {"email": None}])
def test_subscriptions_refuse_unknown_channels_and_states(client, tenant, subscriptions):
    error = error_of(put_user(client, tenant, "u1", {"subscriptions": subscriptions}), 422)
    assert error["field"].startswith("subscriptions")


def test_attribute_count_limit(client, tenant):
    full = {f"a{n}": n for n in range(MAX_ATTRIBUTES)}
    ok(put_user(client, tenant, "u1", {"attributes": full}), 201)
    error = error_of(put_user(client, tenant, "u1", {"attributes": {"one_more": 1}}), 422)
    assert (error["code"], error["field"]) == ("limit_exceeded", "attributes")
    error = error_of(put_user(client, tenant, "u2", {"attributes": {**full, "x": 1}}), 422)
    assert error["code"] == "limit_exceeded"
    assert client.get("/v1/users/u2", headers=tenant.secret_headers).status_code == 404
    assert (
        ok(put_user(client, tenant, "u1", {"attributes": {"a0": None, "swap": 1}}))["attributes"]["swap"] == 1
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [("k" * (MAX_KEY_LENGTH + 1), 422), ("$set", 422), ("tab\there", 422), ("", 422)],
)
def test_attribute_names_are_checked(client, tenant, name, status):
    error = error_of(put_user(client, tenant, "u1", {"attributes": {name: 1}}), status)
    assert error["field"].startswith("attributes")
    assert client.get("/v1/users/u1", headers=tenant.secret_headers).status_code == 404


def test_attribute_size_limit_is_413(client, tenant):
    half = "x" * (MAX_TOTAL_BYTES // 2)
    ok(put_user(client, tenant, "u1", {"attributes": {"a": half}}), 201)
    error = error_of(put_user(client, tenant, "u1", {"attributes": {"b": half, "c": "x" * 100}}), 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "attributes")
    assert set(get_user(client, tenant, "u1")["attributes"]) == {"a"}


def test_external_id_limits(client, tenant):
    ok(put_user(client, tenant, "x" * 255, {}), 201)
    error = error_of(put_user(client, tenant, "x" * 256, {}), 422)
    assert error["field"] == "external_id"


@pytest.mark.smoke
def test_get_unknown_user_is_404_naming_the_field(client, tenant):
    error = error_of(client.get("/v1/users/nobody", headers=tenant.secret_headers), 404)
    assert (error["code"], error["field"]) == ("not_found", "external_id")


@pytest.mark.smoke
def test_publishable_key_identifies_but_cannot_read_a_profile(client, tenant):
    put_user(client, tenant, "u1", {"email": "ada@example.com", "attributes": {"plan": "pro"}})
    response = put_user(client, tenant, "u1", {"first_name": "Ada"}, publishable=True)
    assert response.status_code == 200, response.text
    assert "ada@example.com" not in response.text
    assert "plan" not in response.text
    assert client.put("/v1/users/u2", json={}, headers=tenant.publishable_headers).status_code == 201
    assert get_user(client, tenant, "u1")["first_name"] == "Ada"
    body = {"external_id": "u1", "last_name": "Lovelace"}
    response = client.post("/v1/users", json=body, headers=tenant.publishable_headers)
    assert response.status_code == 200, response.text
    assert "ada@example.com" not in response.text


@pytest.mark.smoke
def test_list_pages_with_a_cursor(client, tenant):
    ids = [f"u{n}" for n in range(7)]
    for external_id in ids:
        put_user(client, tenant, external_id, {})
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = ok(client.get("/v1/users", params=params, headers=tenant.secret_headers))
        seen += [u["external_id"] for u in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_list_has_no_empty_last_page_when_the_count_divides(client, tenant):
    for n in range(4):
        put_user(client, tenant, f"u{n}", {})
    first = ok(client.get("/v1/users", params={"limit": 2}, headers=tenant.secret_headers))
    second = ok(
        client.get(
            "/v1/users", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.secret_headers
        )
    )
    assert len(second["data"]) == 2 and second["next_cursor"] is None


@pytest.mark.smoke
def test_list_filters_by_reserved_fields_and_attributes(client, tenant):
    put_user(
        client,
        tenant,
        "de",
        {
            "country": "DE",
            "timezone": "Europe/Berlin",
            "locale": "de-DE",
            "email": "de@example.com",
            "attributes": {"plan": "pro", "age": 30},
        },
    )
    put_user(
        client, tenant, "np", {"country": "NP", "timezone": "Asia/Kathmandu", "attributes": {"plan": "pro"}}
    )
    put_user(client, tenant, "us", {"country": "US", "attributes": {"plan": "free", "age": 30}})

    def listed(**params):
        page = ok(client.get("/v1/users", params=params, headers=tenant.secret_headers))
        return sorted(u["external_id"] for u in page["data"])

    assert listed(country="DE") == ["de"]
    assert listed(timezone="Asia/Kathmandu") == ["np"]
    assert listed(locale="de-DE") == ["de"]
    assert listed(email="de@example.com") == ["de"]
    assert listed(**{"attr.plan": "pro"}) == ["de", "np"]
    assert listed(**{"attr.plan": "pro", "country": "NP"}) == ["np"]
    assert listed(**{"attr.age": "30"}) == ["de", "us"]
    assert listed(**{"attr.plan": "enterprise"}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"attr.$x": "1"}, "attr.$x"),
    ],
)
def test_list_refuses_bad_parameters(client, tenant, params, field):
    error = error_of(client.get("/v1/users", params=params, headers=tenant.secret_headers), 422)
    assert error["field"] == field


def _leave_traces(database, workspace_id, external_id):
    """A delivery, its inbox item and open, a category choice, trigger and frequency state, a
    content exposure."""
    with database.transaction(workspace_id) as session:
        user = users.get(session, external_id)
        campaign = campaigns.create(session, CampaignCreate.model_validate(campaign_body()))
        now, delivery_id = utcnow(), uuid7()
        session.add_all(
            [
                Delivery(
                    workspace_id=workspace_id,
                    id=delivery_id,
                    send_id=uuid7(),
                    campaign_id=campaign.id,
                    user_id=user.id,
                    channel="in_app",
                    status="sent",
                    due_at=now,
                    created_at=now,
                ),
                InboxItem(
                    workspace_id=workspace_id,
                    id=uuid7(),
                    user_id=user.id,
                    delivery_id=delivery_id,
                    content={"body": "hi"},
                    created_at=now,
                ),
                TriggerEntry(
                    workspace_id=workspace_id,
                    id=uuid7(),
                    campaign_id=campaign.id,
                    user_id=user.id,
                    entered_at=now,
                ),
                FrequencyState(workspace_id=workspace_id, id=user.id, recent=[]),
                ContentExposure(
                    workspace_id=workspace_id,
                    id=uuid7(),
                    user_id=user.id,
                    experiment="spring",
                    variant="a",
                    first_seen_at=now,
                ),
            ]
        )
        session.flush()
        record_engagement(session, user_id=user.id, delivery_id=delivery_id, channel="in_app", kind="open")
        set_preference(session, user_id=user.id, channel="email", category="news", subscribed=False)


TRACES = (
    "deliveries",
    "inbox_items",
    "engagements",
    "preferences",
    "trigger_entries",
    "frequency_states",
    "content_exposures",
)


@pytest.mark.smoke
def test_delete_erases_the_user_with_events_and_devices_and_keeps_a_count(
    client, tenant, owner_engine, database
):
    headers = tenant.secret_headers
    put_user(client, tenant, "gone", {"email": "gone@example.com"})
    put_user(client, tenant, "stays", {})
    events = [
        {"user_id": "gone", "name": "open"},
        {"user_id": "gone", "name": "buy"},
        {"user_id": "stays", "name": "open"},
    ]
    ok(client.post("/v1/events/batch", json={"events": events}, headers=headers))
    ok(
        client.post(
            "/v1/users/gone/devices", json={"platform": "fcm", "token": "token-of-gone"}, headers=headers
        )
    )
    ok(
        client.post(
            "/v1/users/stays/devices", json={"platform": "fcm", "token": "token-stays"}, headers=headers
        )
    )

    for external_id in ("gone", "stays"):
        _leave_traces(database, tenant.workspace_id, external_id)
    assert all(count_rows(owner_engine, table, tenant.workspace_id) == 2 for table in TRACES)

    erased = ok(client.delete("/v1/users/gone", headers=headers))
    assert erased == {"external_id": "gone", "erased": True, "events": 2, "devices": 1}
    # Nothing holding the user's id is left; the other user's rows are untouched.
    assert {table: count_rows(owner_engine, table, tenant.workspace_id) for table in TRACES} == dict.fromkeys(
        TRACES, 1
    )

    assert client.get("/v1/users/gone", headers=headers).status_code == 404
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 1
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1
    assert count_rows(owner_engine, "devices", tenant.workspace_id) == 1
    assert count_rows(owner_engine, "user_erasures", tenant.workspace_id, events=2, devices=1) == 1
    error = error_of(client.delete("/v1/users/gone", headers=headers), 404)
    assert error["field"] == "external_id"


def test_large_numbers_survive_a_round_trip_through_the_database(client, tenant):
    ok(
        put_user(client, tenant, "u1", {"attributes": {"big": 1e20, "huge": 1.5e300, "small": -2.5e-300}}),
        201,
    )
    user = ok(put_user(client, tenant, "u1", {"attributes": {"more": 1}}))
    # Postgres may write a large float back as the integer it equals: the same JSON number.
    assert float(user["attributes"]["big"]) == 1e20
    assert float(user["attributes"]["huge"]) == 1.5e300
    assert user["attributes"]["small"] == -2.5e-300
