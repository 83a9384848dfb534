"""Conversions of journey messages: the journey's conversion is each send step's hidden
campaign's goal, attributed like a campaign's, and counted per send step in the stats."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.models import Campaign
from app.reports import conversions
from tests.campaigns.helpers import T0, add_users
from tests.fixtures.assertions import ok
from tests.fixtures.factories import stored
from tests.journeys.helpers import Sim, add_devices, api_journey, enter
from tests.reports.helpers import add_events


def _send(step_id: str, body: str, next_step: str) -> dict:
    content = {"body": body}
    return {"id": step_id, "type": "send", "channel": "push", "variants": [{"key": "A", "content": content}],
            "next": next_step}  # fmt: skip


STEPS = [
    _send("push", "Hi", "later"),
    {"id": "later", "type": "wait", "duration": {"days": 1}, "next": "again"},
    _send("again", "Hi again", "bye"),
    {"id": "bye", "type": "exit"},
]
CONVERSION = {"event": "purchase", "window_hours": 2}


def _counts(client, tenant, journey_id, **params):
    found = ok(client.get(f"/v1/journeys/{journey_id}/stats", headers=tenant.secret_headers, params=params))
    return {s["step"]: s["messages"] for s in found["steps"]}


def test_journey_messages_convert_like_a_campaigns_and_count_per_send_step(
    client, database, tenant, sink, recording
):
    h = tenant.secret_headers
    ids = add_users(database, tenant.workspace_id, [{"external_id": n} for n in ("ann", "bob", "cy")])
    add_devices(database, tenant.workspace_id, ids)
    journey = ok(client.post("/v1/journeys", json=api_journey(STEPS, conversion=CONVERSION), headers=h), 201)
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    hidden = stored(database, tenant, Campaign)
    assert {c.schedule["step"]: c.goal["event"] for c in hidden} == {"push": "purchase", "again": "purchase"}
    assert all(c.launched_at is not None for c in hidden)  # so the background pass attributes them
    # The launch used the real clock; the simulated one starts earlier.
    with database.transaction(tenant.workspace_id) as session:
        session.execute(update(Campaign).values(launched_at=T0 - timedelta(minutes=1)))

    enter(database, tenant.workspace_id, journey["id"], ["ann", "bob", "cy"], now=T0)
    Sim(database, sink).run(T0)
    ann, bob, cy = ids
    add_events(
        database,
        tenant.workspace_id,
        [
            (ann, "purchase", T0 + timedelta(hours=1), {}),  # within the first message's window
            (bob, "purchase", T0 + timedelta(hours=5), {}),  # too late for it
            (cy, "signup", T0 + timedelta(hours=1), {}),  # not the goal
        ],
    )
    assert _counts(client, tenant, journey["id"]) == {
        "push": {"sent": 3, "delivered": 0, "opened": 0, "clicked": 0, "converted": 1, "failed": 0},
        "later": None,
        "again": {"sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "converted": 0, "failed": 0},
        "bye": None,
    }
    push = next(c.id for c in hidden if c.schedule["step"] == "push")
    stats = ok(client.get(f"/v1/journeys/{journey['id']}/stats", headers=h))
    assert [s["campaign_ids"] for s in stats["steps"]] == [
        [str(push)],
        None,
        [str(c.id) for c in hidden if c.id != push],
        None,
    ]
    report = ok(client.get(f"/v1/reports/campaigns/{push}", headers=h))
    assert report["funnel"]["sent"] == 3 and report["funnel"]["converted"] == 1

    Sim(database, sink).run(T0 + timedelta(days=1))
    add_events(database, tenant.workspace_id, [(bob, "purchase", T0 + timedelta(days=1, hours=1), {})])
    with database.transaction(tenant.workspace_id) as session:  # the background pass, as for campaigns
        again = session.get(Campaign, (tenant.workspace_id, next(c.id for c in hidden if c.id != push)))
        assert conversions.catch_up(session, again, now=T0 + timedelta(days=2)) == 1
    assert _counts(client, tenant, journey["id"], version=1)["again"]["converted"] == 1
    assert _counts(client, tenant, journey["id"])["push"]["converted"] == 1


def test_a_journey_without_a_conversion_counts_messages_only(client, database, tenant):
    journey = ok(client.post("/v1/journeys", json=api_journey(STEPS), headers=tenant.secret_headers), 201)
    assert {c.goal for c in stored(database, tenant, Campaign)} == {None}
    assert _counts(client, tenant, journey["id"])["push"] == dict.fromkeys(
        ("sent", "delivered", "opened", "clicked", "converted", "failed"), 0
    )
