from __future__ import annotations

import pytest

from app.models import Device
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows, stored

APNS_TOKEN = "AB" * 32
WEBPUSH = {
    "platform": "webpush",
    "subscription": {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc123:def",
        "keys": {
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1Xbjha"
            "zAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg",
        },
    },
}


def register(client, tenant, external_id, device, *, publishable=False):
    headers = tenant.publishable_headers if publishable else tenant.secret_headers
    return client.post(f"/v1/users/{external_id}/devices", json=device, headers=headers)


def devices_of(client, tenant, external_id):
    return ok(client.get(f"/v1/users/{external_id}/devices", headers=tenant.secret_headers))


@pytest.mark.smoke
def test_register_an_fcm_token_for_a_new_user(client, tenant):
    device = ok(
        register(
            client,
            tenant,
            "u1",
            {"platform": "fcm", "token": "fcm:token-1", "app_version": "2.1"},
            publishable=True,
        )
    )
    assert (device["platform"], device["token"], device["app_version"], device["enabled"]) == (
        "fcm",
        "fcm:token-1",
        "2.1",
        True,
    )
    assert [d["id"] for d in devices_of(client, tenant, "u1")] == [device["id"]]


def test_register_an_apns_token_lowercased_with_its_environment(client, tenant):
    device = ok(
        register(client, tenant, "u1", {"platform": "apns", "token": APNS_TOKEN, "environment": "sandbox"})
    )
    assert (device["token"], device["apns_environment"]) == (APNS_TOKEN.lower(), "sandbox")
    again = ok(register(client, tenant, "u1", {"platform": "apns", "token": APNS_TOKEN.lower()}))
    assert again["id"] == device["id"] and again["apns_environment"] == "production"
    assert len(devices_of(client, tenant, "u1")) == 1


def test_register_a_web_push_subscription(client, tenant, database):
    device = ok(register(client, tenant, "u1", WEBPUSH))
    assert device["token"] == WEBPUSH["subscription"]["endpoint"]
    (row,) = stored(database, tenant, Device)
    assert (row.webpush_p256dh, row.webpush_auth) == (
        WEBPUSH["subscription"]["keys"]["p256dh"],
        WEBPUSH["subscription"]["keys"]["auth"],
    )


@pytest.mark.parametrize(
    ("device", "field"),
    [
        ({"platform": "sms", "token": "12345678"}, "platform"),
        ({"token": "12345678"}, "platform"),
        ({"platform": "fcm", "token": "short"}, "token"),
        ({"platform": "fcm", "token": "has spaces in it"}, "token"),
        ({"platform": "fcm"}, "token"),
        ({"platform": "apns", "token": "not-hex" * 10}, "token"),
        ({"platform": "apns", "token": "ab" * 10}, "token"),
        ({"platform": "apns", "token": APNS_TOKEN, "environment": "staging"}, "environment"),
        ({"platform": "fcm", "token": "12345678", "environment": "sandbox"}, "environment"),
        (
            {**WEBPUSH, "subscription": {**WEBPUSH["subscription"], "endpoint": "http://push.example.com/x"}},
            "subscription.endpoint",
        ),
        (
            {**WEBPUSH, "subscription": {**WEBPUSH["subscription"], "endpoint": "not a url"}},
            "subscription.endpoint",
        ),
        ({**WEBPUSH, "subscription": {"endpoint": WEBPUSH["subscription"]["endpoint"]}}, "subscription.keys"),
        (
            {
                **WEBPUSH,
                "subscription": {**WEBPUSH["subscription"], "keys": {"p256dh": "!!", "auth": "x" * 22}},
            },
            "subscription.keys.p256dh",
        ),
        ({"platform": "fcm", "token": "12345678", "app_version": "v" * 51}, "app_version"),
    ],
)
def test_invalid_devices_are_refused_by_field(client, tenant, owner_engine, device, field):
    error = error_of(register(client, tenant, "u1", device), 422)
    assert error["field"] == field
    assert count_rows(owner_engine, "devices", tenant.workspace_id) == 0
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


@pytest.mark.smoke
def test_a_token_registered_for_another_user_moves_to_them(client, tenant, owner_engine):
    first = ok(
        register(client, tenant, "alice", {"platform": "fcm", "token": "shared-phone", "app_version": "1"})
    )
    ok(register(client, tenant, "alice", {"platform": "fcm", "token": "alice-own-phone"}))
    moved = ok(
        register(client, tenant, "bob", {"platform": "fcm", "token": "shared-phone", "app_version": "2"})
    )
    assert moved["id"] == first["id"] and moved["app_version"] == "2"
    assert [d["token"] for d in devices_of(client, tenant, "alice")] == ["alice-own-phone"]
    assert [d["token"] for d in devices_of(client, tenant, "bob")] == ["shared-phone"]
    assert count_rows(owner_engine, "devices", tenant.workspace_id) == 2


def test_the_same_token_on_two_platforms_is_two_devices(client, tenant):
    ok(register(client, tenant, "u1", {"platform": "fcm", "token": "a" * 64}))
    ok(register(client, tenant, "u1", {"platform": "apns", "token": "a" * 64}))
    assert sorted(d["platform"] for d in devices_of(client, tenant, "u1")) == ["apns", "fcm"]


@pytest.mark.smoke
def test_unregister_by_token(client, tenant):
    ok(register(client, tenant, "u1", {"platform": "fcm", "token": "fcm-token-1"}))
    ok(register(client, tenant, "u1", {"platform": "apns", "token": APNS_TOKEN}))
    ok(register(client, tenant, "u1", WEBPUSH))
    refs = [
        {"platform": "fcm", "token": "fcm-token-1"},
        {"platform": "apns", "token": APNS_TOKEN.upper()},
        {"platform": "webpush", "token": WEBPUSH["subscription"]["endpoint"]},
    ]
    for ref in refs:
        response = client.post("/v1/devices/unregister", json=ref, headers=tenant.publishable_headers)
        assert response.status_code == 204, response.text
    assert devices_of(client, tenant, "u1") == []
    error = error_of(client.post("/v1/devices/unregister", json=refs[0], headers=tenant.secret_headers), 404)
    assert error["field"] == "token"


def test_unregister_needs_the_platform_too(client, tenant):
    ok(register(client, tenant, "u1", {"platform": "fcm", "token": "a" * 64}))
    wrong = {"platform": "apns", "token": "a" * 64}
    error_of(client.post("/v1/devices/unregister", json=wrong, headers=tenant.secret_headers), 404)
    assert len(devices_of(client, tenant, "u1")) == 1


@pytest.mark.smoke
def test_delete_by_id(client, tenant):
    device = ok(register(client, tenant, "u1", {"platform": "fcm", "token": "fcm-token-1"}))
    keep = ok(register(client, tenant, "u1", {"platform": "fcm", "token": "fcm-token-2"}))
    error_of(client.delete(f"/v1/devices/{device['id']}", headers=tenant.publishable_headers), 403)
    response = client.delete(f"/v1/devices/{device['id']}", headers=tenant.secret_headers)
    assert response.status_code == 204 and response.content == b""
    assert [d["id"] for d in devices_of(client, tenant, "u1")] == [keep["id"]]
    error = error_of(client.delete(f"/v1/devices/{device['id']}", headers=tenant.secret_headers), 404)
    assert error["field"] == "device_id"
    error = error_of(client.delete("/v1/devices/not-a-uuid", headers=tenant.secret_headers), 422)
    assert error["field"] == "device_id"


def test_listing_devices_needs_a_known_user_and_a_secret_key(client, tenant):
    error = error_of(client.get("/v1/users/nobody/devices", headers=tenant.secret_headers), 404)
    assert error["field"] == "external_id"
    ok(register(client, tenant, "u1", {"platform": "fcm", "token": "fcm-token-1"}))
    error_of(client.get("/v1/users/u1/devices", headers=tenant.publishable_headers), 403)


@pytest.mark.parametrize(
    "endpoint",
    ["https://Push.Example.COM:443/send/Ab%7e?x=1", "https://push.example.com", "https://PUSH.example.com/a"],
)
def test_a_web_push_endpoint_unregisters_as_the_browser_gave_it(client, tenant, endpoint):
    subscription = {**WEBPUSH["subscription"], "endpoint": endpoint}
    ok(register(client, tenant, "u1", {"platform": "webpush", "subscription": subscription}))
    response = client.post(
        "/v1/devices/unregister",
        json={"platform": "webpush", "token": endpoint},
        headers=tenant.publishable_headers,
    )
    assert response.status_code == 204, response.text
    assert devices_of(client, tenant, "u1") == []
