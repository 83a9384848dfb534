from __future__ import annotations

import re

import pytest

from app.auth.service import create_key
from app.models import KeyKind
from tests.dashboard.helpers import member_browser, sign_up
from tests.fixtures.factories import make_tenant


@pytest.fixture
def workspace(browser, database, client):  # type: ignore[no-untyped-def]
    """A workspace with users sent through the API, and a browser signed in as an analyst."""
    owner = browser()
    workspace_id = sign_up(owner)
    with database.transaction(workspace_id) as session:
        _, secret = create_key(session, workspace_id=workspace_id, kind=KeyKind.secret)
    headers = {"Authorization": f"Bearer {secret}"}
    people = [
        ("user-1", "ada@example.com", {"plan": "pro", "age": 36, "tags": ["vip", "beta"]}),
        ("user-2", "Grace@Example.com", {"plan": "free", "age": 42, "newsletter": True}),
        ("user-10", "linus@example.com", {"plan": "pro", "age": 28}),
        ("admin%_x", "odd@example.com", {"plan": "team"}),
    ]
    for external_id, email, attributes in people:
        r = client.post(
            "/v1/users",
            json={"external_id": external_id, "email": email, "attributes": attributes},
            headers=headers,
        )
        assert r.status_code == 201, r.text
    client.post(
        "/v1/events/batch",
        json={
            "events": [
                {
                    "user_id": "user-1",
                    "name": f"step-{n}",
                    "timestamp": f"2026-01-01T00:{n:02d}:00Z",
                    "properties": {"n": n},
                }
                for n in range(60)
            ]
        },
        headers=headers,
    )
    client.post(
        "/v1/users/user-1/devices", json={"platform": "fcm", "token": "fcm-token-abcdef"}, headers=headers
    )
    # Someone else's user with the same external id must never show up.
    other = make_tenant(database, "Globex")
    client.put("/v1/users/user-1", json={"email": "intruder@example.com"}, headers=other.secret_headers)
    return workspace_id, member_browser(browser, database, workspace_id, "analyst")


def _found(html: str) -> list[str]:
    return re.findall(r'class="row-link" href="[^"]+">([^<]+)</a>', html)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["admin%_x", "user-10", "user-2", "user-1"]),  # newest first
        ({"q": "user-1"}, ["user-10", "user-1"]),  # exact or beginning of the external id
        ({"q": "ada@example.com"}, ["user-1"]),
        ({"q": "grace@EXAMPLE.com"}, ["user-2"]),  # emails match whatever their case
        ({"q": "admin%"}, ["admin%_x"]),  # LIKE wildcards are plain text
        ({"q": "user%"}, []),
        ({"attribute": "plan", "value": "pro"}, ["user-10", "user-1"]),
        ({"attribute": "age", "value": "42"}, ["user-2"]),  # numbers match the number
        ({"attribute": "newsletter", "value": "true"}, ["user-2"]),
        ({"attribute": "tags", "value": "vip"}, ["user-1"]),  # list attributes: membership
        ({"attribute": "newsletter"}, ["user-2"]),  # no value: has the attribute
        ({"q": "user-1", "attribute": "plan", "value": "free"}, []),
    ],
)
def test_search_by_external_id_email_or_attribute(workspace, query, expected):
    workspace_id, analyst = workspace
    response = analyst.get(f"/dashboard/w/{workspace_id}/users", params=query)
    assert response.status_code == 200
    assert _found(response.text) == expected
    if not expected:
        assert "No users match" in response.text


def test_htmx_gets_only_the_results(workspace):
    workspace_id, analyst = workspace
    response = analyst.get(
        f"/dashboard/w/{workspace_id}/users", params={"q": "user-2"}, headers={"HX-Request": "true"}
    )
    assert _found(response.text) == ["user-2"]
    assert "<html" not in response.text and "<nav" not in response.text


def test_a_bad_attribute_name_is_a_clear_error(workspace):
    workspace_id, analyst = workspace
    response = analyst.get(f"/dashboard/w/{workspace_id}/users", params={"attribute": "$where", "value": "1"})
    assert response.status_code == 422
    assert "may not start with" in response.text


def test_profile_shows_attributes_devices_and_a_paged_timeline(workspace):
    workspace_id, analyst = workspace
    listing = analyst.get(f"/dashboard/w/{workspace_id}/users", params={"q": "ada@example.com"}).text
    path = re.search(r'class="row-link" href="([^"]+)"', listing).group(1)
    profile = analyst.get(path)
    assert profile.status_code == 200
    html = profile.text
    assert "ada@example.com" in html and "intruder@example.com" not in html
    assert "<code>tags</code>" in html and "[&#34;vip&#34;,&#34;beta&#34;]" in html
    assert "Android (FCM)" in html and "fcm-token-" in html
    steps = re.findall(r"<strong>(step-\d+)</strong>", html)
    assert steps[:3] == ["step-59", "step-58", "step-57"] and len(steps) == 50
    older = re.search(r'href="\?(before=[^"]+)"', html).group(1).replace("&amp;", "&")
    rest = re.findall(r"<strong>(step-\d+)</strong>", analyst.get(f"{path}?{older}").text)
    assert rest == [f"step-{n}" for n in range(9, -1, -1)]


def test_a_user_of_another_workspace_is_not_found(workspace, browser, database):
    workspace_id, analyst = workspace
    listing = analyst.get(f"/dashboard/w/{workspace_id}/users", params={"q": "user-2"}).text
    user_path = re.search(r'class="row-link" href="([^"]+)"', listing).group(1)
    outsider = browser()
    their_workspace = sign_up(outsider, email="eve@example.com", workspace="Eve's")
    assert outsider.get(user_path.replace(str(workspace_id), str(their_workspace))).status_code == 404
    assert outsider.get(user_path).status_code == 404
