import json
import logging
import time

import pytest
from prometheus_client import REGISTRY

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.models.base import utcnow
from tests.campaigns.helpers import Lanes, add_users, campaign_body


def _sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.smoke
def test_metrics_count_requests_by_route(client, tenant):
    before = _sample(
        client.get("/metrics").text,
        "nudge_http_requests_total",
        route="/v1/users/{external_id}",
        status="201",
    )
    for n in range(3):
        assert client.put(f"/v1/users/m{n}", json={}, headers=tenant.secret_headers).status_code == 201
    client.get("/v1/users/nobody", headers=tenant.secret_headers)
    text = client.get("/metrics").text
    assert (
        _sample(text, "nudge_http_requests_total", route="/v1/users/{external_id}", status="201")
        == before + 3
    )
    assert (
        _sample(
            text, "nudge_http_requests_total", method="GET", route="/v1/users/{external_id}", status="404"
        )
        >= 1
    )
    assert (
        _sample(
            text, "nudge_http_request_duration_seconds_count", method="PUT", route="/v1/users/{external_id}"
        )
        >= 3
    )


def test_logs_are_json_with_request_and_workspace_ids(client, tenant, caplog):
    caplog.set_level(logging.INFO, logger="nudge.http")
    response = client.put(
        "/v1/users/log-me", json={}, headers={**tenant.secret_headers, "X-Request-ID": "req-123"}
    )
    assert response.headers["x-request-id"] == "req-123"
    from app.kit.logs import JsonFormatter

    records = [r for r in caplog.records if r.name == "nudge.http"]
    assert records
    entry = json.loads(JsonFormatter().format(records[-1]))
    assert entry["route"] == "/v1/users/{external_id}"
    assert entry["status"] == 201
    assert entry["method"] == "PUT"
    assert entry["request_id"] == "req-123"
    assert entry["workspace_id"] == str(tenant.workspace_id)


def test_request_id_is_generated_when_missing_or_unsafe(client):
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\r\n"}).headers["x-request-id"]
    assert unsafe != "bad id"


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _launch(database, tenant, **overrides) -> Lanes:
    with database.transaction(tenant.workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(**overrides)))
        _, jobs = service.launch(session, campaign.id, now=utcnow())
    lanes = Lanes(database)
    lanes.emit(jobs)
    return lanes


@pytest.mark.smoke
def test_dispatch_counts_outcomes_and_provider_errors(database, tenant):
    add_users(
        database,
        tenant.workspace_id,
        [
            {"external_id": "a", "email": "a@example.com"},
            {"external_id": "b", "email": "b@example.com"},
            {"external_id": "c", "email": "c@example.com", "in_app_status": "unsubscribed"},
        ],
    )
    sent = _counter("nudge_deliveries_total", channel="in_app", status="sent")
    unsubscribed = _counter("nudge_deliveries_total", channel="in_app", status="suppressed:unsubscribed")
    _launch(database, tenant).run(utcnow())
    assert _counter("nudge_deliveries_total", channel="in_app", status="sent") == sent + 2
    assert (
        _counter("nudge_deliveries_total", channel="in_app", status="suppressed:unsubscribed")
        == unsubscribed + 1
    )

    # Email without a provider (outside embedded mode, where the sandbox outbox takes it).
    if database.is_postgres:
        failed = _counter("nudge_deliveries_total", channel="email", status="failed")
        missing = _counter("nudge_provider_errors_total", channel="email", reason="not_configured")
        content = {"subject": "Hi", "html": "<p>Hi</p>"}
        _launch(database, tenant, channel="email", variants=[{"key": "A", "content": content}]).run(utcnow())
        assert _counter("nudge_deliveries_total", channel="email", status="failed") == failed + 3
        assert (
            _counter("nudge_provider_errors_total", channel="email", reason="not_configured") == missing + 3
        )


@pytest.mark.smoke
def test_backlog_gauges_read_the_ledger(client, database, tenant):
    text = client.get("/metrics").text
    assert _sample_plain(text, "nudge_deliveries_due") == 0
    assert _sample_plain(text, "nudge_delivery_lag_seconds") == 0
    add_users(database, tenant.workspace_id, [{"external_id": f"u{n}"} for n in range(4)])
    lanes = _launch(database, tenant)
    # Planned, not dispatched: four rows are due and waiting.
    [plan] = [job for job in lanes.jobs if job.name == "campaigns.plan_send"]
    lanes.jobs = [plan]
    lanes.run(utcnow(), limit=1)
    time.sleep(0.05)
    text = client.get("/metrics").text
    assert _sample_plain(text, "nudge_deliveries_due") == 4
    assert _sample_plain(text, "nudge_delivery_lag_seconds") >= 0.05
    lanes.run(utcnow())
    text = client.get("/metrics").text
    assert _sample_plain(text, "nudge_deliveries_due") == 0
    assert _sample_plain(text, "nudge_delivery_lag_seconds") == 0


def _sample_plain(text: str, name: str) -> float:
    """A sample without labels."""
    values = [float(line.split(" ")[1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) == 1, f"{name}: {values}"
    return values[0]
