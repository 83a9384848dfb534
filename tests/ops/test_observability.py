import json
import logging

import pytest


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
