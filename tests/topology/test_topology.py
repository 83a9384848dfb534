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
        assert api.put(f"/v1/users/u{n}", json=user).status_code in (200, 201)
        device = {"platform": "fcm", "token": f"token-{n:04d}-" + "x" * 40}
        assert api.post(f"/v1/users/u{n}/devices", json=device).status_code in (200, 201)
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
