"""A campaign whose template runs away (saved through the API: the loop is legal Jinja) must
not hold a dispatch worker for a render deadline per recipient: a chunk of them would outlive
its lease and be dispatched again by another lane while the first still renders."""

from __future__ import annotations

import time
from datetime import timedelta

from tests.campaigns.helpers import T0, Lanes, add_users, deliveries
from tests.campaigns.test_flow import _launch
from tests.fixtures.assertions import ok

RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
USERS = 60


def test_a_runaway_template_costs_a_chunk_seconds_not_minutes(tuned, tenant, client):
    body = {
        "name": "Bomb",
        "channel": "in_app",
        "audience": {"type": "all"},
        "variants": [{"key": "A", "content": {"title": RUNAWAY, "body": "b"}}],
        "schedule": {"type": "immediate"},
    }
    ok(client.post("/v1/campaigns", json=body, headers=tenant.secret_headers), 201)  # it is valid Jinja

    database = tuned(dispatch_max_attempts=2, dispatch_chunk_size=USERS)
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(USERS)])
    variants = [
        {"key": "A", "weight": 1, "content": {"title": RUNAWAY, "body": "b"}},
        {"key": "B", "weight": 1, "content": {"title": "Hi {{ user.external_id }}", "body": "b"}},
    ]
    _, jobs = _launch(database, ws, variants=variants)
    lanes = Lanes(database)
    lanes.emit(jobs)
    started = time.monotonic()
    lanes.run(T0)
    # One render deadline per recipient would be USERS / 2 * 0.25 s = 7.5 s here (250 s for a
    # chunk of 2,000, twice the lease); a few timed-out renders are enough to give up on a variant.
    assert time.monotonic() - started < 3.0

    lanes.simulate(T0, T0 + timedelta(minutes=10))
    rows = deliveries(database, ws)
    assert len(rows) == USERS
    by_variant = {v: [r for r in rows if r.variant == v] for v in ("A", "B")}
    assert by_variant["A"] and by_variant["B"]
    assert {r.status for r in by_variant["B"]} == {"sent"}
    assert {r.status for r in by_variant["A"]} == {"failed"}
    assert all("render" in r.error and "longer than" in r.error for r in by_variant["A"])
    assert time.monotonic() - started < 10.0
