"""Small builders shared by the content tests."""

from __future__ import annotations

from typing import Any

from app.auth.user_signature import user_signature
from tests.fixtures.assertions import ok
from tests.fixtures.factories import Tenant

PRO = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}}


def variable(
    key: str = "banner", type_: str = "string", default: Any = "Hello", **extra: Any
) -> dict[str, Any]:
    return {"key": key, "type": type_, "default": default, **extra}


def create(client, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return ok(client.post("/v1/variables", json=body, headers=tenant.secret_headers), 201)


def put_user(client, tenant: Tenant, external_id: str, **attributes: Any) -> None:  # type: ignore[no-untyped-def]
    body = {"attributes": attributes}
    response = client.put(f"/v1/users/{external_id}", json=body, headers=tenant.secret_headers)
    assert response.status_code in (200, 201), response.text


def as_user(settings, tenant: Tenant, external_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Headers a client app sends: the publishable key and the user's signature."""
    signature = user_signature(settings, tenant.workspace_id, external_id)
    return {**tenant.publishable_headers, "X-Nudge-User": external_id, "X-Nudge-User-Signature": signature}


def content(client, headers: dict[str, str], **params: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return ok(client.get("/v1/content", headers=headers, params=params))
