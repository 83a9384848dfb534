from __future__ import annotations

import base64
import hashlib

import pytest
from sqlalchemy import inspect, text

from app.auth.keys import PREFIXES
from app.models import KeyKind
from tests.fixtures.assertions import error_of, ok


@pytest.mark.smoke
def test_get_and_update_the_workspace(client, tenant):
    workspace = ok(client.get("/v1/workspace", headers=tenant.secret_headers))
    assert (workspace["id"], workspace["name"], workspace["timezone"]) == (
        str(tenant.workspace_id),
        "Acme",
        "UTC",
    )
    patch = {"name": "  Acme Inc ", "timezone": "Pacific/Chatham"}
    updated = ok(client.patch("/v1/workspace", json=patch, headers=tenant.secret_headers))
    assert (updated["name"], updated["timezone"]) == ("Acme Inc", "Pacific/Chatham")
    assert ok(client.get("/v1/workspace", headers=tenant.secret_headers)) == updated


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"timezone": "Moon/Base"}, "timezone"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_bad_workspace_updates_change_nothing(client, tenant, patch, field):
    before = ok(client.get("/v1/workspace", headers=tenant.secret_headers))
    error = error_of(client.patch("/v1/workspace", json=patch, headers=tenant.secret_headers), 422)
    assert error["field"] == field
    assert ok(client.get("/v1/workspace", headers=tenant.secret_headers)) == before


def test_keys_are_listed_by_prefix_never_by_value(client, tenant):
    keys = ok(client.get("/v1/keys", headers=tenant.secret_headers))
    assert sorted(k["kind"] for k in keys) == ["publishable", "secret"]
    by_kind = {k["kind"]: k for k in keys}
    assert tenant.secret.startswith(by_kind["secret"]["prefix"])
    assert tenant.publishable.startswith(by_kind["publishable"]["prefix"])
    listing = client.get("/v1/keys", headers=tenant.secret_headers).text
    assert tenant.secret not in listing and tenant.publishable not in listing
    assert hashlib.sha256(tenant.secret.encode()).hexdigest() not in listing
    assert all("key" not in k and "key_hash" not in k for k in keys)


@pytest.mark.parametrize("kind", list(KeyKind))
def test_keys_are_a_prefix_and_at_least_128_random_bits(client, tenant, kind):
    made = {
        ok(client.post("/v1/keys", json={"kind": kind}, headers=tenant.secret_headers), 201)["key"]
        for _ in range(5)
    }
    assert len(made) == 5
    for key in made:
        assert key.startswith(PREFIXES[kind])
        random_part = key.removeprefix(PREFIXES[kind])
        assert len(base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))) * 8 >= 128


@pytest.mark.smoke
def test_created_keys_work_and_keep_their_kind(client, tenant):
    secret = ok(
        client.post("/v1/keys", json={"kind": "secret", "name": "ci"}, headers=tenant.secret_headers), 201
    )
    assert secret["name"] == "ci" and secret["revoked_at"] is None
    ok(client.get("/v1/users", headers={"Authorization": f"Bearer {secret['key']}"}))
    public = ok(client.post("/v1/keys", json={"kind": "publishable"}, headers=tenant.secret_headers), 201)
    public_headers = {"Authorization": f"Bearer {public['key']}"}
    ok(client.post("/v1/events", json={"user_id": "u1", "name": "e"}, headers=public_headers))
    error_of(client.get("/v1/users", headers=public_headers), 403)
    assert len(ok(client.get("/v1/keys", headers=tenant.secret_headers))) == 4


@pytest.mark.parametrize("body", [{"kind": "admin"}, {}, {"kind": "secret", "name": "n" * 201}])
def test_bad_key_requests_are_refused(client, tenant, body):
    error_of(client.post("/v1/keys", json=body, headers=tenant.secret_headers), 422)
    assert len(ok(client.get("/v1/keys", headers=tenant.secret_headers))) == 2


def test_the_key_itself_is_stored_nowhere(client, tenant, owner_engine):
    headers = {**tenant.secret_headers, "Idempotency-Key": "make-key-1"}
    made = ok(client.post("/v1/keys", json={"kind": "secret"}, headers=headers), 201)
    plaintext = made["key"]
    inspector = inspect(owner_engine)
    with owner_engine.connect() as conn:
        for table in inspector.get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    as_text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    assert plaintext not in as_text, f"the key is stored in {table}"


@pytest.mark.smoke
def test_a_revoked_key_stops_working_at_once(client, tenant):
    made = ok(client.post("/v1/keys", json={"kind": "secret"}, headers=tenant.secret_headers), 201)
    headers = {"Authorization": f"Bearer {made['key']}"}
    ok(client.get("/v1/workspace", headers=headers))
    revoked = ok(client.delete(f"/v1/keys/{made['id']}", headers=tenant.secret_headers))
    assert revoked["revoked_at"] is not None
    error = error_of(client.get("/v1/workspace", headers=headers), 401)
    assert error["code"] == "unauthorized"
    error_of(client.post("/v1/events", json={"user_id": "u", "name": "e"}, headers=headers), 401)
    again = ok(client.delete(f"/v1/keys/{made['id']}", headers=tenant.secret_headers))
    assert again["revoked_at"] == revoked["revoked_at"]
    ok(client.get("/v1/workspace", headers=tenant.secret_headers))


def test_revoking_an_unknown_key(client, tenant):
    error = error_of(
        client.delete("/v1/keys/0190a0a0-0000-7000-8000-000000000000", headers=tenant.secret_headers), 404
    )
    assert error["field"] == "key_id"
    assert error_of(client.delete("/v1/keys/nope", headers=tenant.secret_headers), 422)["field"] == "key_id"
