"""The deployment topology of docker-compose.yml, started by hand: api, worker and beat as
separate processes against Postgres and Redis. A workspace made with the CLI, users and devices
loaded over HTTP, an email campaign launched over HTTP and sent through a real SMTP server;
every delivery is sent exactly once, and the metrics each process exposes say so."""

from __future__ import annotations

import email
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from tests.channels.email.smtp_server import Handler, start_server
from tests.topology.harness import Topology

pytestmark = pytest.mark.slow

USERS = 120
BOUNCES = 3  # the SMTP server refuses these at RCPT (550): failed, never retried
CONTENT = {
    "subject": "Hello {{ user.first_name }}",
    "html": "<p>Hi {{ user.first_name }}, new picks are in.</p>",
    "category": "newsletter",
}


@dataclass
class Run:
    api: httpx.Client
    workspace_id: uuid.UUID
    smtp: Handler
    campaign_id: str


def _workspace_id(output: str) -> uuid.UUID:
    workspace = re.search(r"^Workspace ([0-9a-f-]{36})$", output, re.MULTILINE)
    assert workspace, output
    return uuid.UUID(workspace[1])


def _sql(topology: Topology, query: str, **params: object) -> list[tuple]:  # type: ignore[type-arg]
    """Read as the database owner (not held by row-level security): the test's view of the ledger."""
    engine = create_engine(topology.database_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]
    finally:
        engine.dispose()


def _wait(what: str, check, timeout: float = 120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.5)


def _launch(api: httpx.Client, name: str) -> str:
    body = {
        "name": name,
        "channel": "email",
        "audience": {"type": "all"},
        "variants": [{"key": "A", "content": CONTENT}],
        "schedule": {"type": "immediate"},
    }
    created = api.post("/v1/campaigns", json=body, headers={"Idempotency-Key": f"create-{name}"})
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    launched = api.post(f"/v1/campaigns/{campaign_id}/launch", headers={"Idempotency-Key": f"launch-{name}"})
    assert launched.status_code == 200, launched.text
    return campaign_id


def _statuses(topology: Topology, campaign_id: str) -> dict[str, int]:
    rows = _sql(
        topology,
        "SELECT status, count(*) FROM deliveries WHERE campaign_id = :c GROUP BY status",
        c=campaign_id,
    )
    return {status: count for status, count in rows}


@pytest.fixture(scope="module")
def run(topology: Topology) -> Iterator[Run]:
    """One campaign through the whole topology; the tests below look at what it left."""
    controller, smtp = start_server()
    # Keys come from the CLI, as an operator installing Nudge would make them.
    workspace_id = _workspace_id(
        topology.cli("workspace", "create", "Topology", "--timezone", "Europe/Paris")
    )
    key = re.search(r"secret key \S+: (\S+)", topology.cli("key", "create", "--workspace", str(workspace_id)))
    assert key, "no key printed"
    api = httpx.Client(base_url=topology.api_url, headers={"Authorization": f"Bearer {key[1]}"}, timeout=30)
    smtp_settings = {
        "host": "127.0.0.1",
        "port": controller.port,
        "security": "none",
        "from_email": "news@acme.test",
    }
    assert api.put("/v1/providers/smtp", json=smtp_settings).status_code == 200
    for n in range(USERS):
        address = "bounce@example.com" if n < BOUNCES else f"user{n}@example.com"
        user = {"email": address, "first_name": f"U{n}", "timezone": "America/New_York"}
        assert api.put(f"/v1/users/u{n}", json=user).status_code == 201
        device = {"platform": "fcm", "token": f"token-{n:04d}-" + "x" * 40}
        assert api.post(f"/v1/users/u{n}/devices", json=device).status_code == 200
    campaign_id = _launch(api, "spring")
    _wait(
        "every delivery final",
        lambda: _statuses(topology, campaign_id) == {"sent": USERS - BOUNCES, "failed": BOUNCES},
    )
    yield Run(api, workspace_id, smtp, campaign_id)
    api.close()
    controller.stop()


def test_campaign_sent_exactly_once_through_separate_processes(topology: Topology, run: Run) -> None:
    assert {p.name for p in topology.processes.values() if p.alive} == {"api", "worker", "beat"}
    ledger = _sql(
        topology,
        "SELECT d.id, u.external_id, d.status, d.provider_id FROM deliveries d JOIN users u"
        " ON u.workspace_id = d.workspace_id AND u.id = d.user_id WHERE d.campaign_id = :c",
        c=run.campaign_id,
    )
    assert len(ledger) == USERS
    assert Counter(external_id for _, external_id, _, _ in ledger) == {f"u{n}": 1 for n in range(USERS)}

    # What the SMTP server received: each accepted user once, carrying its delivery id.
    received = Counter(rcpt for message in run.smtp.messages for rcpt in message.rcpt_tos)
    assert received == {f"user{n}@example.com": 1 for n in range(BOUNCES, USERS)}
    message_ids = {
        email.message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in run.smtp.messages
    }
    sent = {provider_id for _, _, status, provider_id in ledger if status == "sent"}
    assert message_ids == sent
    assert {f"<{delivery_id}@acme.test>" for delivery_id, _, status, _ in ledger if status == "sent"} == sent

    # Beat's tick (a separate process, once a minute) marks the send, then the campaign, done.
    _wait(
        "campaign completed by the planner tick",
        lambda: run.api.get(f"/v1/campaigns/{run.campaign_id}").json()["status"] == "completed",
        timeout=150,
    )


def _scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` carrying ``labels`` (NaN if there is none)."""
    found = [value for n, have, value in samples if n == name and labels.items() <= have.items()]
    return sum(found) if found else float("nan")


def test_metrics_after_the_campaign(topology: Topology, run: Run) -> None:
    # The worker counts what it dispatched, summed over its pool processes, on its own port.
    worker = _scrape(topology.worker_metrics_url)
    assert _value(worker, "nudge_deliveries_total", channel="email", status="sent") == USERS - BOUNCES
    assert _value(worker, "nudge_deliveries_total", channel="email", status="failed") == BOUNCES
    assert _value(worker, "nudge_provider_errors_total", channel="email", reason="rejected") == BOUNCES
    # The completed campaign (checked above) needed at least one tick of the planner.
    assert _value(worker, "nudge_planner_tick_seconds_count") >= 1

    # The API's requests, summed over its two processes; the backlog, read from Redis and Postgres.
    api = _scrape(f"{topology.api_url}/metrics")
    route = "/v1/users/{external_id}"
    assert _value(api, "nudge_http_requests_total", method="PUT", route=route, status="201") == USERS
    assert (
        _value(api, "nudge_http_requests_total", method="POST", route=route + "/devices", status="200")
        == USERS
    )
    assert _value(api, "nudge_http_request_duration_seconds_count", method="PUT", route=route) == USERS
    assert _value(api, "nudge_queue_depth", queue="dispatch") == 0
    assert _value(api, "nudge_deliveries_due") == 0
    assert _value(api, "nudge_delivery_lag_seconds") == 0


def test_backlog_gauges_follow_a_stalled_dispatch(topology: Topology, run: Run) -> None:
    """A worker that plans but does not dispatch: the API's gauges show the backlog growing,
    then draining once a full worker is back; the second campaign too is sent exactly once."""
    topology.kill("worker")
    topology.restart("worker", extra_args=["--queues", "default"])
    campaign_id = _launch(run.api, "summer")

    def stalled() -> list[tuple[str, dict[str, str], float]] | None:
        samples = _scrape(f"{topology.api_url}/metrics")
        return samples if _value(samples, "nudge_deliveries_due") == USERS else None

    first = _wait("deliveries planned", stalled, timeout=60)
    assert _value(first, "nudge_queue_depth", queue="dispatch") >= 1
    time.sleep(1.5)
    later = _scrape(f"{topology.api_url}/metrics")
    assert _value(later, "nudge_delivery_lag_seconds") >= _value(first, "nudge_delivery_lag_seconds") + 1
    assert _statuses(topology, campaign_id) == {"queued": USERS}

    topology.restart("worker")
    # The bounced addresses were suppressed by the first campaign's 550s.
    final = {"sent": USERS - BOUNCES, "suppressed:address_suppressed": BOUNCES}
    _wait("second campaign final", lambda: _statuses(topology, campaign_id) == final)
    received = Counter(rcpt for message in run.smtp.messages for rcpt in message.rcpt_tos)
    assert received == {f"user{n}@example.com": 2 for n in range(BOUNCES, USERS)}
    drained = _scrape(f"{topology.api_url}/metrics")
    assert _value(drained, "nudge_queue_depth", queue="dispatch") == 0
    assert _value(drained, "nudge_deliveries_due") == 0
    assert _value(drained, "nudge_delivery_lag_seconds") == 0
