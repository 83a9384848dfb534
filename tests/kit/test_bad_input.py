"""Malformed input on every route that takes a body: always a 4xx with the error shape, never
a 500, never a half-written record."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows, raw_headers

BODY_ROUTES = [
    ("PUT", "/v1/users/u1"),
    ("POST", "/v1/users"),
    ("POST", "/v1/users/u1/devices"),
    ("POST", "/v1/devices/unregister"),
    ("POST", "/v1/events"),
    ("POST", "/v1/events/batch"),
    ("PATCH", "/v1/workspace"),
    ("POST", "/v1/keys"),
    ("POST", "/v1/identify"),
    ("POST", "/v1/track"),
    ("POST", "/v1/page"),
    ("POST", "/v1/screen"),
    ("POST", "/v1/batch"),
]
# Valid bodies for the routes whose format is Nudge's own (Segment's allows fields Nudge does
# not use, such as integrations and _metadata).
STRICT_BODIES = {
    ("PUT", "/v1/users/u1"): {"email": "a@example.com"},
    ("POST", "/v1/users"): {"external_id": "u1"},
    ("POST", "/v1/users/u1/devices"): {"platform": "fcm", "token": "fcm-token-1"},
    ("POST", "/v1/devices/unregister"): {"platform": "fcm", "token": "fcm-token-1"},
    ("POST", "/v1/events"): {"user_id": "u1", "name": "e"},
    ("POST", "/v1/events/batch"): {"events": []},
    ("PATCH", "/v1/workspace"): {"name": "Renamed"},
    ("POST", "/v1/keys"): {"kind": "secret"},
}
TENANT_TABLES = ("users", "devices", "events", "idempotency_keys", "user_erasures")


def send(client, tenant, method, path, content: bytes):
    return client.request(method, path, content=content, headers=raw_headers(tenant.secret_headers))


def assert_nothing_stored(owner_engine, tenant):
    for table in TENANT_TABLES:
        assert count_rows(owner_engine, table, tenant.workspace_id) == 0, table


@pytest.mark.smoke
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("body", [b'{"email": ', b"{'single': 'quotes'}", b"\x00", b"[1, 2,]"])
def test_bad_json_is_400(client, tenant, owner_engine, method, path, body):
    error = error_of(send(client, tenant, method, path, body), 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")
    assert_nothing_stored(owner_engine, tenant)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_invalid_utf8_is_400(client, tenant, owner_engine, method, path):
    error = error_of(send(client, tenant, method, path, b'{"name": "caf\xe9 \xff"}'), 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")
    assert_nothing_stored(owner_engine, tenant)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("body", [b"[]", b"null", b'"text"', b"42"])
def test_a_body_that_is_not_an_object_is_422(client, tenant, owner_engine, method, path, body):
    error_of(send(client, tenant, method, path, body), 422)
    assert_nothing_stored(owner_engine, tenant)


@pytest.mark.parametrize(("method", "path"), STRICT_BODIES)
def test_unknown_fields_are_refused_by_name(client, tenant, owner_engine, method, path):
    body = {**STRICT_BODIES[method, path], "surprise_field": 1}
    error = error_of(client.request(method, path, json=body, headers=tenant.secret_headers), 422)
    assert error["field"] == "surprise_field"
    assert "surprise_field" in error["message"]
    assert_nothing_stored(owner_engine, tenant)


# Values JSON can carry that Postgres cannot store: NUL in text, unpaired surrogates, numbers
# that are not finite or do not fit in 64 bits. Each must be refused with the field named.
HOSTILE_JSON = {
    "nul": '"a\\u0000b"',
    "surrogate": '"\\ud800"',
    "big_int": "123456789012345678901234567890",
    "overflow_float": "1e999",
    "nan": "NaN",
    "minus_infinity": "-Infinity",
}


@pytest.mark.smoke
@pytest.mark.parametrize("value", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"attributes": {"a": {"deep": [VALUE]}}}', "attributes"),
        ('{"add": {"tags": [VALUE]}}', "add.tags"),
        ('{"increment": {"n": VALUE}}', "increment.n"),
        ('{"first_name": VALUE}', "first_name"),
        ('{"city": VALUE}', "city"),
    ],
)
def test_user_values_postgres_cannot_store_are_refused(client, tenant, owner_engine, value, template, field):
    response = send(client, tenant, "PUT", "/v1/users/u1", template.replace("VALUE", value).encode())
    assert 400 <= response.status_code < 500, response.text
    if response.status_code == 422:
        assert error_of(response, 422)["field"].startswith(field)
    assert_nothing_stored(owner_engine, tenant)


@pytest.mark.parametrize("key", ['"a\\u0000b"', '"\\udfff"'])
def test_attribute_names_postgres_cannot_store_are_refused(client, tenant, owner_engine, key):
    body = '{"attributes": {VALUE: 1}}'.replace("VALUE", key).encode()
    response = send(client, tenant, "PUT", "/v1/users/u1", body)
    assert error_of(response, 422)["field"].startswith("attributes")
    assert_nothing_stored(owner_engine, tenant)


def test_external_ids_postgres_cannot_store_are_refused(client, tenant, owner_engine):
    for response in (
        client.put("/v1/users/a%00b", json={}, headers=tenant.secret_headers),
        client.get("/v1/users/a%00b", headers=tenant.secret_headers),
        client.delete("/v1/users/a%00b", headers=tenant.secret_headers),
    ):
        assert error_of(response, 422)["field"] == "external_id"
    body = b'{"external_id": "a\\u0000b"}'
    assert error_of(send(client, tenant, "POST", "/v1/users", body), 422)["field"] == "external_id"
    assert_nothing_stored(owner_engine, tenant)


def test_a_path_that_is_not_utf8_is_read_with_replacement_characters(client, tenant):
    response = client.put("/v1/users/%ED%A0%80", json={}, headers=tenant.secret_headers)
    assert ok(response, 201)["external_id"] == "\ufffd" * 3


@pytest.mark.parametrize("param", ["email", "country", "timezone", "locale", "attr.plan"])
def test_list_filters_postgres_cannot_match_are_refused(client, tenant, param):
    response = client.get("/v1/users", params={param: "a\x00"}, headers=tenant.secret_headers)
    assert error_of(response, 422)["field"] == param


@pytest.mark.parametrize("value", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"user_id": "u1", "name": "e", "properties": {"p": [VALUE]}}', "properties"),
        ('{"user_id": "u1", "name": VALUE}', "name"),
        ('{"user_id": VALUE, "name": "e"}', "user_id"),
        ('{"user_id": "u1", "name": "e", "message_id": VALUE}', "message_id"),
    ],
)
def test_event_values_postgres_cannot_store_are_refused(client, tenant, owner_engine, value, template, field):
    item = template.replace("VALUE", value)
    response = send(client, tenant, "POST", "/v1/events", item.encode())
    assert 400 <= response.status_code < 500, response.text
    assert_nothing_stored(owner_engine, tenant)
    batch = '{"events": [VALUE, {"user_id": "fine", "name": "ok"}]}'.replace("VALUE", item)
    response = send(client, tenant, "POST", "/v1/events/batch", batch.encode())
    if response.status_code == 200:  # NaN and friends may be refused as JSON; otherwise per item
        results = response.json()["results"]
        if value == HOSTILE_JSON["big_int"] and field == "properties":
            return  # the batch parser reads integers beyond 64 bits as floats, which is fine
        assert results[0]["status"] == "rejected"
        assert results[0]["error"]["field"].startswith(field)
        assert results[1]["status"] == "accepted"
        assert count_rows(owner_engine, "events", tenant.workspace_id) == 1
    else:
        error_of(response, 400)


@pytest.mark.parametrize("value", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_segment_values_postgres_cannot_store_are_refused(client, tenant, owner_engine, value):
    for path, body in (
        ("/v1/identify", '{"userId": "u1", "traits": {"t": [VALUE]}}'),
        ("/v1/track", '{"userId": "u1", "event": "e", "properties": {"p": VALUE}}'),
        ("/v1/page", '{"userId": "u1", "name": VALUE}'),
    ):
        response = send(client, tenant, "POST", path, body.replace("VALUE", value).encode())
        assert 400 <= response.status_code < 500, (path, response.text)
    assert_nothing_stored(owner_engine, tenant)


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:30:00-05:00"])
def test_timestamps_outside_the_calendar_in_utc_are_refused(client, tenant, owner_engine, timestamp):
    event = {"user_id": "u1", "name": "e", "timestamp": timestamp}
    error = error_of(client.post("/v1/events", json=event, headers=tenant.secret_headers), 422)
    assert error["field"] == "timestamp"
    batch = {"events": [event, {"user_id": "u1", "name": "ok"}]}
    results = ok(client.post("/v1/events/batch", json=batch, headers=tenant.secret_headers))["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted"]
    assert results[0]["error"]["field"] == "timestamp"
    track = {"userId": "u2", "event": "e", "timestamp": timestamp}
    assert error_of(client.post("/v1/track", json=track, headers=tenant.secret_headers), 422)["field"] == (
        "timestamp"
    )
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1


def test_nesting_deeper_than_the_database_takes_is_refused(client, tenant, owner_engine):
    deep = "[" * 300 + "]" * 300
    for path, body in (
        ("/v1/users/u1", '{"attributes": {"a": VALUE}}'),
        ("/v1/events", '{"user_id": "u1", "name": "e", "properties": {"a": VALUE}}'),
    ):
        method = "PUT" if path.startswith("/v1/users") else "POST"
        response = send(client, tenant, method, path, body.replace("VALUE", deep).encode())
        assert 400 <= response.status_code < 500, response.text
    assert_nothing_stored(owner_engine, tenant)


def test_unknown_route_and_method_answer_in_the_error_shape(client, tenant):
    assert error_of(client.get("/v1/nothing-here", headers=tenant.secret_headers), 404)["code"] == "not_found"
    assert error_of(client.delete("/v1/users", headers=tenant.secret_headers), 405)["code"] == (
        "method_not_allowed"
    )


# Any JSON at all, including what Postgres cannot store, must never produce a 500.
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["\x00", "\ud800", "a\udfffb", "$x", ""])
)
json_docs = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(
    st.text(max_size=6) | st.sampled_from(["\x00", "\ud800"]), json_docs, max_size=4
)
# One field a body, so a bad value is not hidden behind another field's 422.
user_bodies = st.one_of(
    st.builds(lambda v: {"attributes": v}, json_objects),
    st.builds(
        lambda v: {"add": v},
        st.dictionaries(st.text(max_size=4), st.lists(json_leaves, max_size=3), max_size=2),
    ),
    st.builds(lambda v: {"increment": v}, st.dictionaries(st.text(max_size=4), json_leaves, max_size=2)),
    st.builds(lambda v: {"subscriptions": v}, json_objects),
    st.builds(
        lambda k, v: {k: v}, st.sampled_from(["email", "timezone", "city", "latitude", "locale"]), json_leaves
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=user_bodies)
def test_no_user_body_causes_a_500(client, tenant, body):
    response = send(client, tenant, "PUT", "/v1/users/fuzz", json.dumps(body).encode())
    assert response.status_code < 500, (body, response.text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    item=st.fixed_dictionaries(
        {"user_id": st.just("fuzz"), "name": st.just("e")},
        optional={"properties": json_objects, "timestamp": json_leaves, "message_id": json_leaves},
    )
)
def test_no_event_causes_a_500(client, tenant, item):
    body = json.dumps({"events": [item]}).encode()
    response = send(client, tenant, "POST", "/v1/events/batch", body)
    assert response.status_code < 500, (item, response.text)


@pytest.mark.parametrize(
    ("method", "path"), [*BODY_ROUTES, ("POST", "/v1/segments/preview"), ("POST", "/v1/campaigns")]
)
def test_nesting_a_parser_would_recurse_on_is_400(client, tenant, owner_engine, method, path):
    """100,000 levels: refused by the parser's depth limit before any recursion in Python."""
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    error = error_of(send(client, tenant, method, path, deep), 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")
    assert_nothing_stored(owner_engine, tenant)
