"""Authentication: Bearer keys, HTTP Basic with the key as user name, clear 401s."""

from __future__ import annotations

import base64

import pytest

from tests.fixtures.assertions import error_of, ok


def basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.smoke
def test_no_credentials_is_401_with_a_challenge(client):
    response = client.get("/v1/users")
    error = error_of(response, 401)
    assert (error["code"], error["field"]) == ("unauthorized", "Authorization")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer nk_sec_" + "A" * 32,
        "Bearer nk_pub_" + "A" * 32,
        "Bearer sk_live_something",
        "Token nk_sec_abc",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"\xff\xfe:").decode(),
        "Basic " + base64.b64encode(b"nk_sec_unknown:").decode(),
    ],
)
def test_unknown_or_malformed_credentials_are_401(client, tenant, authorization):
    error = error_of(client.get("/v1/workspace", headers={"Authorization": authorization}), 401)
    assert error["field"] == "Authorization"


@pytest.mark.smoke
def test_basic_auth_with_the_key_as_user_name(client, tenant):
    ok(client.get("/v1/workspace", headers=basic(tenant.secret)))
    ok(client.get("/v1/workspace", headers=basic(tenant.secret, "ignored-password")))
    ok(client.post("/v1/track", json={"userId": "u1", "event": "e"}, headers=basic(tenant.publishable)))


def test_the_scheme_is_case_insensitive(client, tenant):
    ok(client.get("/v1/workspace", headers={"Authorization": f"bearer {tenant.secret}"}))
    ok(client.get("/v1/workspace", headers={"Authorization": f"BEARER  {tenant.secret} "}))


def test_a_key_of_one_kind_with_the_other_prefix_does_not_work(client, tenant):
    swapped = "nk_pub_" + tenant.secret.removeprefix("nk_sec_")
    error_of(client.get("/v1/workspace", headers={"Authorization": f"Bearer {swapped}"}), 401)


SECRET_ONLY = [
    ("GET", "/v1/users", None),
    ("GET", "/v1/users/u1", None),
    ("DELETE", "/v1/users/u1", None),
    ("GET", "/v1/users/u1/devices", None),
    ("DELETE", "/v1/devices/0190a0a0-0000-7000-8000-000000000000", None),
    ("GET", "/v1/keys", None),
    ("POST", "/v1/keys", {"kind": "secret"}),
    ("DELETE", "/v1/keys/0190a0a0-0000-7000-8000-000000000000", None),
    ("GET", "/v1/workspace", None),
    ("PATCH", "/v1/workspace", {"name": "Taken over"}),
]


@pytest.mark.smoke
@pytest.mark.parametrize(("method", "path", "body"), SECRET_ONLY)
def test_publishable_keys_cannot_do_secret_key_work(client, tenant, method, path, body):
    ok(client.put("/v1/users/u1", json={"email": "u1@example.com"}, headers=tenant.secret_headers), 201)
    error = error_of(client.request(method, path, json=body, headers=tenant.publishable_headers), 403)
    assert error["code"] == "forbidden"
    assert ok(client.get("/v1/users/u1", headers=tenant.secret_headers))["email"] == "u1@example.com"
    assert ok(client.get("/v1/workspace", headers=tenant.secret_headers))["name"] == "Acme"
    assert len(ok(client.get("/v1/keys", headers=tenant.secret_headers))) == 2
