import pytest


@pytest.mark.smoke
def test_preview_renders_with_event_builtins(client, tenant):
    h = tenant.secret_headers
    client.put("/v1/users/u1", json={"first_name": "Ada", "attributes": {"plan": "pro"}}, headers=h)
    for value in (10, 32.5):
        r = client.post(
            "/v1/events",
            json={"user_id": "u1", "name": "purchase", "properties": {"value": value}},
            headers=h,
        )
        assert r.status_code == 200, r.text
    content = {
        "subject": "{{ user.first_name }} on {{ user.attributes.plan }}",
        "body": "{{ occurrences_of['purchase'] }} purchases, {{ lifetime_value }}, "
        "{{ occurrences_of['refund'] }}, {{ event.properties.item }}",
    }
    r = client.post(
        "/v1/content/preview",
        json={"content": content, "external_id": "u1", "event": {"properties": {"item": "hat"}}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["content"] == {"subject": "Ada on pro", "body": "2 purchases, 42.5, 0, hat"}


def test_preview_does_not_see_another_workspaces_events(client, tenant, other_tenant):
    for t in (tenant, other_tenant):
        client.put("/v1/users/u1", json={}, headers=t.secret_headers)
    client.post("/v1/events", json={"user_id": "u1", "name": "purchase"}, headers=other_tenant.secret_headers)
    r = client.post(
        "/v1/content/preview",
        json={"content": {"b": "{{ occurrences_of['purchase'] }}"}, "external_id": "u1"},
        headers=tenant.secret_headers,
    )
    assert r.json()["content"] == {"b": "0"}


def test_invalid_template_is_a_422_with_line_and_column(client, tenant):
    r = client.post(
        "/v1/content/validate",
        json={"content": {"email": {"subject": "ok", "html": "<p>\n{{ user. }}</p>"}}},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "content.email.html" and error["line"] == 2 and error["column"] >= 1


def test_render_failure_in_preview_is_a_422_not_a_500(client, tenant):
    client.put("/v1/users/u1", json={}, headers=tenant.secret_headers)
    r = client.post(
        "/v1/content/preview",
        json={"content": {"b": "{{ 'a' * 10**9 }}"}, "external_id": "u1"},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "content"
