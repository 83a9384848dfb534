from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.auth.service import create_key
from app.kit.db import scope_to_workspace
from app.models import ApiKey, KeyKind
from tests.dashboard.helpers import PASSWORD, csrf, post, sign_in, sign_up
from tests.fixtures.factories import make_tenant


def _cookie_attributes(response, name: str) -> str:  # type: ignore[no-untyped-def]
    header = next(v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}="))
    return header.lower()


def test_session_cookie_is_httponly_lax_and_scoped_to_the_dashboard(browser):
    sign_up(browser())
    response = sign_in(browser(), "ada@example.com")
    attributes = _cookie_attributes(response, "nudge_session")
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/dashboard" in attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back


def test_session_cookie_is_secure_behind_https(browser):
    client = browser("https://testserver")
    sign_up(client)
    response = sign_in(browser("https://testserver"), "ada@example.com")
    assert "; secure" in _cookie_attributes(response, "nudge_session")


def test_session_cookie_is_secure_when_the_deployment_says_https(settings, database, sink):
    from fastapi.testclient import TestClient

    from app.main import create_app

    app = create_app(
        settings.model_copy(update={"public_base_url": "https://nudge.example"}), database=database, sink=sink
    )
    with TestClient(app) as client:  # the proxy in front speaks https; uvicorn sees http
        assert "; secure" in _cookie_attributes(client.get("/dashboard/login"), "nudge_csrf")


def _keys(database, workspace_id) -> list[ApiKey]:  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return list(session.scalars(select(ApiKey)))


def test_every_change_needs_the_pages_csrf_token(browser, database):
    client = browser()
    workspace_id = sign_up(client)
    keys = f"/dashboard/w/{workspace_id}/keys"

    missing = client.post(keys, data={"name": "x", "kind": "secret"})
    assert missing.status_code == 403
    assert "reload" in missing.text
    forged = client.post(keys, data={"name": "x", "kind": "secret", "csrf_token": "0" * 64})
    assert forged.status_code == 403
    stranger = browser()
    other_token = csrf(stranger, "/dashboard/login")  # valid, but for another browser
    assert client.post(keys, data={"name": "x", "csrf_token": other_token}).status_code == 403
    cross_site = client.post(
        keys, data={"name": "x", "csrf_token": csrf(client, keys)}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert _keys(database, workspace_id) == []

    assert post(client, keys, {"name": "ok", "kind": "secret"}).status_code == 201
    assert (
        client.post(keys, data={"name": "h"}, headers={"X-CSRF-Token": csrf(client, keys)}).status_code == 201
    )
    assert len(_keys(database, workspace_id)) == 2


def test_a_token_from_before_sign_in_is_no_good_after_it(browser):
    client = browser()
    workspace_id = sign_up(client)
    post(client, "/dashboard/logout", token_from=f"/dashboard/w/{workspace_id}/")
    anonymous_token = csrf(client, "/dashboard/login")
    assert sign_in(client, "ada@example.com").status_code == 303
    response = client.post(f"/dashboard/w/{workspace_id}/keys", data={"csrf_token": anonymous_token})
    assert response.status_code == 403


def test_sign_in_itself_needs_a_token(browser):
    sign_up(browser())
    response = browser().post("/dashboard/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "nudge_session" not in response.headers.get("set-cookie", "")


def test_pages_send_security_headers(browser):
    response = browser().get("/dashboard/login")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_user_data_is_escaped_everywhere_it_shows(browser, client, database):
    owner = browser()
    workspace_id = sign_up(owner)
    with database.transaction(workspace_id) as session:
        _, secret = create_key(session, workspace_id=workspace_id, kind=KeyKind.secret)
    headers = {"Authorization": f"Bearer {secret}"}
    script = "<script>alert('x')</script>"
    r = client.post(
        "/v1/users",
        json={
            "external_id": "<b>bold</b>",
            "email": "ada@example.com",
            "first_name": "<img src=x onerror=alert(1)>",
            "attributes": {"bio": script},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    client.post(
        "/v1/events",
        json={"user_id": "<b>bold</b>", "name": "<i>x</i>", "properties": {"p": script}},
        headers=headers,
    )

    listing = owner.get(f"/dashboard/w/{workspace_id}/users")
    user_id = listing.text.split(f"/dashboard/w/{workspace_id}/users/")[1].split('"')[0]
    for page in (listing.text, owner.get(f"/dashboard/w/{workspace_id}/users/{user_id}").text):
        assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    profile = owner.get(f"/dashboard/w/{workspace_id}/users/{user_id}").text
    assert script not in profile
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in profile
    assert "&lt;i&gt;x&lt;/i&gt;" in profile


def test_another_workspace_is_invisible(browser, database):
    client = browser()
    mine = sign_up(client)
    theirs = make_tenant(database, "Globex")
    with database.transaction(theirs.workspace_id) as session:
        their_key = session.scalars(select(ApiKey)).first()
    for path in ("/", "/users", "/keys", "/members", "/settings"):
        assert client.get(f"/dashboard/w/{theirs.workspace_id}{path}").status_code == 404, path
    # Their key's id through my workspace's address: not found, and still active.
    revoke = post(
        client, f"/dashboard/w/{mine}/keys/{their_key.id}/revoke", token_from=f"/dashboard/w/{mine}/keys"
    )
    assert revoke.status_code == 404
    assert (
        post(
            client,
            f"/dashboard/w/{theirs.workspace_id}/keys",
            {"name": "x"},
            token_from=f"/dashboard/w/{mine}/keys",
        ).status_code
        == 404
    )
    with database.transaction(theirs.workspace_id) as session:
        assert session.get(ApiKey, (theirs.workspace_id, their_key.id)).revoked_at is None
        scope_to_workspace(session, theirs.workspace_id)
        assert len(session.scalars(select(ApiKey)).all()) == 2
    assert client.get(f"/dashboard/w/{uuid.uuid4()}/").status_code == 404


@pytest.mark.parametrize("path", ["/dashboard/nope", "/dashboard/w/not-a-uuid/"])
def test_unknown_pages_answer_in_html(browser, path):
    client = browser()
    sign_up(client)
    response = client.get(path)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("text/html")
