from __future__ import annotations

import pytest

from tests.campaigns.helpers import campaign_body


def _create(client, tenant, **overrides):
    r = client.post("/v1/campaigns", json=campaign_body(**overrides), headers=tenant.secret_headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.smoke
def test_create_read_list_campaign(client, tenant):
    created = _create(client, tenant)
    assert created["status"] == "draft"
    r = client.get(f"/v1/campaigns/{created['id']}", headers=tenant.secret_headers)
    assert r.status_code == 200 and r.json()["name"] == "Spring sale"
    r = client.get("/v1/campaigns", headers=tenant.secret_headers)
    assert [c["id"] for c in r.json()["data"]] == [created["id"]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "sms"}, "channel"),
        ({"variants": []}, "variants"),
        ({"variants": [{"key": "A", "content": {"title": "no body"}}]}, "variants[0].content.body"),
        ({"variants": [{"key": "A", "content": {"body": "{{ user.name "}}]}, "variants[0].content.body"),
        (
            {"channel": "email", "variants": [{"key": "A", "content": {"subject": "s"}}]},
            "variants[0].content.html",
        ),
        (
            {"variants": [{"key": "A", "content": {"body": "x"}}, {"key": "A", "content": {"body": "y"}}]},
            "variants",
        ),
        ({"control_percent": 100}, "control_percent"),
        ({"schedule": {"type": "local", "date": "2026-03-08", "time": "25:00"}}, "schedule.time"),
        (
            {
                "schedule": {
                    "type": "recurring",
                    "frequency": "weekly",
                    "time": "09:00",
                    "start_date": "2026-03-01",
                }
            },
            "schedule.recurring",
        ),
        ({"audience": {"type": "users", "external_ids": []}}, "audience.external_ids"),
        ({"schedule": {"type": "at", "at": "2026-03-08T09:00:00"}}, "schedule.at"),
    ],
)
def test_bad_campaigns_are_refused_naming_the_field(client, tenant, overrides, field):
    r = client.post("/v1/campaigns", json=campaign_body(**overrides), headers=tenant.secret_headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_life_cycle_and_conflicts(client, tenant, sink):
    campaign = _create(client, tenant)
    base = f"/v1/campaigns/{campaign['id']}"
    h = tenant.secret_headers
    assert client.post(f"{base}/pause", headers=h).status_code == 409
    assert client.post(f"{base}/resume", headers=h).status_code == 409
    r = client.post(f"{base}/launch", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert [j.name for j in sink.jobs] == ["campaigns.plan_send"]
    second = client.post(f"{base}/launch", headers=h)
    assert second.status_code == 409 and second.json()["error"]["field"] == "status"
    r = client.patch(base, json={"variants": [{"key": "B", "content": {"body": "x"}}]}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "variants"
    r = client.patch(base, json={"audience": {"type": "all"}}, headers=h)
    assert r.status_code == 409
    r = client.patch(base, json={"name": "Renamed"}, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    assert client.delete(base, headers=h).status_code == 409
    r = client.post(f"{base}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert sink.jobs[-1].name == "campaigns.cancel_queued"
    for action in ("launch", "pause", "resume", "cancel"):
        assert client.post(f"{base}/{action}", headers=h).status_code == 409


def test_draft_edits_and_delete(client, tenant):
    campaign = _create(client, tenant)
    base = f"/v1/campaigns/{campaign['id']}"
    r = client.patch(
        base,
        json={"channel": "email", "variants": [{"key": "A", "content": {"subject": "S", "text": "T"}}]},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 200, r.text
    r = client.patch(base, json={"channel": "push"}, headers=tenant.secret_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "variants[0].content.body"
    r = client.patch(base, json={"name": None}, headers=tenant.secret_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    assert client.delete(base, headers=tenant.secret_headers).status_code == 204
    assert client.get(base, headers=tenant.secret_headers).status_code == 404


def test_campaign_throttle_goes_as_high_as_the_workspace_rate(client, tenant):
    """A campaign's per-minute throttle admits the workspace rate's ceiling (1,000,000 a second),
    so it never caps a campaign below what the workers can send; past that it names the field."""
    campaign = _create(client, tenant)
    base = f"/v1/campaigns/{campaign['id']}"
    r = client.patch(base, json={"limits": {"per_minute": 60_000_000}}, headers=tenant.secret_headers)
    assert r.status_code == 200 and r.json()["limits"]["per_minute"] == 60_000_000, r.text
    r = client.patch(base, json={"limits": {"per_minute": 60_000_001}}, headers=tenant.secret_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "limits.per_minute", r.text


def test_other_workspace_cannot_see_or_act(client, tenant, other_tenant):
    campaign = _create(client, tenant)
    base = f"/v1/campaigns/{campaign['id']}"
    h = other_tenant.secret_headers
    assert client.get(base, headers=h).status_code == 404
    assert client.patch(base, json={"name": "x"}, headers=h).status_code == 404
    assert client.delete(base, headers=h).status_code == 404
    for action in ("launch", "pause", "resume", "cancel"):
        assert client.post(f"{base}/{action}", headers=h).status_code == 404
    assert client.get(f"{base}/schedule-preview", headers=h).status_code == 404
    assert client.get(f"{base}/deliveries", headers=h).status_code == 404
    assert client.get("/v1/campaigns", headers=h).json()["data"] == []


def test_publishable_key_is_refused(client, tenant):
    r = client.post("/v1/campaigns", json=campaign_body(), headers=tenant.publishable_headers)
    assert r.status_code == 403


def test_local_schedule_entirely_past_is_refused_at_launch(client, tenant):
    campaign = _create(client, tenant, schedule={"type": "local", "date": "2020-01-01", "time": "09:00"})
    r = client.post(f"/v1/campaigns/{campaign['id']}/launch", headers=tenant.secret_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "schedule.date"
    assert (
        client.get(f"/v1/campaigns/{campaign['id']}", headers=tenant.secret_headers).json()["status"]
        == "draft"
    )


@pytest.mark.smoke
def test_delivery_policy_round_trip(client, tenant):
    body = {
        "quiet_hours": {"start": "22:00", "end": "08:00"},
        "frequency_caps": [
            {"channel": "push", "limit": 2, "window_hours": 24},
            {"limit": 5, "window_hours": 168},
        ],
        "rate_per_second": 100,
        "channel_rates": {"push": 50},
    }
    r = client.put("/v1/delivery-policy", json=body, headers=tenant.secret_headers)
    assert r.status_code == 200, r.text
    r = client.get("/v1/delivery-policy", headers=tenant.secret_headers)
    assert r.json()["quiet_hours"] == {"start": "22:00:00", "end": "08:00:00"}
    assert r.json()["frequency_caps"][1] == {"channel": None, "limit": 5, "window_hours": 168.0}
    r = client.put(
        "/v1/delivery-policy",
        json={"quiet_hours": {"start": "22:00", "end": "22:00"}},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "quiet_hours"
