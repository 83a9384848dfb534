"""Winner roll-out on real Postgres with a controllable clock: the test share, the roll-out
send due wait_hours after each zone's test wave, the decision and its fallback, nobody sent
twice, validation, and the report."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, select, update

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.delivery.rules import CONTROL, assign_variant, share_unit
from app.experiments.rollout import ROLLOUT
from app.kit.timezones import local_to_utc
from app.models import CampaignStatus, Delivery, Send, Workspace
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries
from tests.fixtures.assertions import ok
from tests.reports.helpers import add_events

VARIANTS = [{"key": k, "weight": 1, "content": {"title": k, "body": k.lower()}} for k in ("A", "B", "C")]
GOAL = {"event": "purchase", "window_hours": 48}
# B beats the next best by 12 points: with ~450 test users a variant it wins at p < 0.025
# (one-sided, two comparisons) with probability above 0.999, whatever the random user ids.
TRUE_RATES = {"A": 0.04, "B": 0.18, "C": 0.06}


def _launch(database, workspace_id, rollout, at=T0, **overrides):
    body = campaign_body(variants=VARIANTS, rollout=rollout, **overrides)
    with database.transaction(workspace_id) as session:
        campaign = service.create(session, CampaignCreate.model_validate(body))
        campaign, jobs = service.launch(session, campaign.id, now=at)
    return campaign.id, jobs


def _sends(database, workspace_id):
    with database.transaction(workspace_id) as session:
        return {s.occurrence: s for s in session.scalars(select(Send))}


def _convert(database, workspace_id, rows, rates, rng, at):
    """Goal events for the sent rows, each with its variant's true rate."""
    events = [
        (row.user_id, "purchase", at + timedelta(hours=rng.uniform(0.5, 20)), {})
        for row in rows
        if row.status == "sent" and rng.random() < rates[row.variant]
    ]
    add_events(database, workspace_id, events)


def test_share_unit_is_the_same_in_postgres_and_independent_of_variants(database, tenant):
    campaign = uuid.UUID("01234567-89ab-7def-8123-456789abcdef")
    users = [uuid.uuid5(uuid.NAMESPACE_OID, str(i)) for i in range(20_000)]  # fixed: exact counts
    with database.transaction(tenant.workspace_id) as session:
        for user in users[:50]:
            in_sql = session.scalar(select(func.nudge_share_unit(campaign, user)))
            assert in_sql == pytest.approx(share_unit(campaign, user), abs=1e-15)
    test = [u for u in users if share_unit(campaign, u) < 0.25]
    assert 4700 <= len(test) <= 5300
    # The test share holds the variants and the control group in their proportions.
    shares = {
        k: n / len(test) for k, n in Counter(assign_variant(campaign, u, VARIANTS, 10) for u in test).items()
    }
    assert 0.08 <= shares[CONTROL] <= 0.12
    assert all(0.27 <= shares[k] <= 0.33 for k in "ABC")


def test_the_rest_gets_the_truly_best_variant_after_the_wait(database, tenant, recording, client):
    ws = tenant.workspace_id
    users = add_users(database, ws, [{"external_id": f"u{i}"} for i in range(5000)])
    rollout = {"test_percent": 30, "wait_hours": 24, "metric": "converted"}
    campaign_id, jobs = _launch(database, ws, rollout, goal=GOAL, control_percent=10)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)

    sends = _sends(database, ws)
    assert set(sends) == {"once", ROLLOUT}
    assert sends[ROLLOUT].next_plan_at == T0 + timedelta(hours=24)
    test_rows = deliveries(database, ws)
    assert {r.send_id for r in test_rows} == {sends["once"].id}
    assert 1350 <= len(test_rows) <= 1650  # 30 % of 5,000
    assert all(share_unit(campaign_id, r.user_id) < 0.3 for r in test_rows)
    assert {r.variant for r in test_rows} == {"A", "B", "C", CONTROL}
    _convert(database, ws, test_rows, TRUE_RATES, random.Random(3), T0)

    lanes.settle(T0 + timedelta(hours=23, minutes=59))  # not yet
    assert len(deliveries(database, ws)) == len(test_rows)
    assert _sends(database, ws)[ROLLOUT].decision is None

    lanes.settle(T0 + timedelta(hours=24))
    decision = _sends(database, ws)[ROLLOUT].decision
    assert decision["winner"] == "B"
    assert decision["significant"] is True and decision["reason"] == "significant"
    assert decision["metric"] == "converted"
    arms = {a["name"]: a for a in decision["arms"]}
    assert set(arms) == {"A", "B", "C"}  # the control group is not a candidate
    assert arms["B"]["rate"] > arms["C"]["rate"] and arms["B"]["rate"] > arms["A"]["rate"]

    rows = deliveries(database, ws)
    rest = [r for r in rows if r.send_id == sends[ROLLOUT].id]
    assert {r.variant for r in rest} == {"B", CONTROL}
    # Control users stay held out: the same ones as the stable assignment says.
    assert all((r.variant == CONTROL) == (r.status == "suppressed:control") for r in rest)
    assert all(
        (assign_variant(campaign_id, r.user_id, VARIANTS, 10) == CONTROL) == (r.variant == CONTROL)
        for r in rest
    )
    # Everybody is in exactly one of the two sends, and nobody got two messages.
    assert Counter(r.user_id for r in rows) == Counter(users)
    messaged = Counter(m.user_id for m in recording.messages)
    assert max(messaged.values()) == 1
    assert sum(1 for r in rows if r.status == "sent") == len(recording.messages)
    rollout_bodies = {m.content["body"] for m in recording.messages if m.delivery_id in {r.id for r in rest}}
    assert rollout_bodies == {"b"}

    lanes.settle(T0 + timedelta(hours=25))
    lanes.settle(T0 + timedelta(hours=25))
    with database.transaction(ws) as session:
        assert service.get(session, campaign_id).status == CampaignStatus.completed
    assert len(deliveries(database, ws)) == len(rows)  # planning again adds nobody

    report = ok(client.get(f"/v1/reports/campaigns/{campaign_id}", headers=tenant.secret_headers))["rollout"]
    assert report["winner"] == "B" and report["significant"] is True
    assert report["status"] == "done" and report["users"] == len(rest)
    assert report["test_percent"] == 30 and report["wait_hours"] == 24
    csv_text = client.get(
        f"/v1/reports/campaigns/{campaign_id}", params={"format": "csv"}, headers=tenant.secret_headers
    ).text
    assert "rollout.arms" in csv_text


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("fallback", "clicks", "winner", "reason"),
    [("C", {}, "C", "fallback_variant"), (None, {"B": 1}, "B", "best_rate"), (None, {}, "A", "best_rate")],
)
def test_without_a_significant_winner_the_fallback_is_sent(
    database, tenant, recording, fallback, clicks, winner, reason
):
    ws = tenant.workspace_id
    add_users(database, ws, [{"external_id": f"u{i}"} for i in range(300)])
    rollout = {"test_percent": 50, "wait_hours": 2, "metric": "clicked", "fallback_variant": fallback}
    _, jobs = _launch(database, ws, rollout)
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    for variant, count in clicks.items():
        chosen = [r.id for r in deliveries(database, ws) if r.variant == variant][:count]
        with database.transaction(ws) as session:
            session.execute(
                update(Delivery).where(Delivery.id.in_(chosen)).values(opened_at=T0, clicked_at=T0)
            )
    lanes.settle(T0 + timedelta(hours=2))
    decision = _sends(database, ws)[ROLLOUT].decision
    assert (decision["winner"], decision["reason"], decision["significant"]) == (winner, reason, False)
    rest = [r for r in deliveries(database, ws) if r.send_id == _sends(database, ws)[ROLLOUT].id]
    assert rest and {r.variant for r in rest} == {winner}


def test_local_time_roll_out_follows_each_zones_wave(database, tenant, recording):
    ws = tenant.workspace_id
    with database.transaction(ws) as session:
        session.execute(update(Workspace).where(Workspace.id == ws).values(timezone="UTC"))
    zones = ("Asia/Tokyo", "Europe/Berlin", "America/New_York")
    users = add_users(
        database, ws, [{"external_id": f"{z}-{i}", "timezone": z} for z in zones for i in range(200)]
    )
    zone_of = dict(zip(users, [z for z in zones for _ in range(200)], strict=True))
    day, wall = date(2026, 3, 10), time(9, 0)
    rollout = {"test_percent": 40, "wait_hours": 6, "metric": "opened"}
    campaign_id, _ = _launch(
        database, ws, rollout, at=T0, schedule={"type": "local", "date": day.isoformat(), "time": "09:00"}
    )
    test_at = {z: local_to_utc(day, wall, z) for z in zones}
    lanes = Lanes(database)
    waves = sorted({*test_at.values(), *(t + timedelta(hours=6) for t in test_at.values())})
    for instant in waves:  # each zone's test wave, and its roll-out wave 6 h later
        lanes.settle(instant)
    sends = _sends(database, ws)
    rows = deliveries(database, ws)
    assert Counter(r.user_id for r in rows) == Counter(users)
    for row in rows:
        in_test = share_unit(campaign_id, row.user_id) < 0.4
        assert (row.send_id == sends["once"].id) == in_test
        assert row.due_at == test_at[zone_of[row.user_id]] + timedelta(hours=0 if in_test else 6)
        assert row.status == "sent" and row.sent_at == row.due_at
    # Decided once, at the first zone's roll-out (Tokyo), for every zone.
    decision = sends[ROLLOUT].decision
    assert decision["decided_at"] == (test_at["Asia/Tokyo"] + timedelta(hours=6)).isoformat()
    assert {r.variant for r in rows if r.send_id == sends[ROLLOUT].id} == {decision["winner"]}
    assert max(Counter(m.user_id for m in recording.messages).values()) == 1


def test_no_decision_before_a_zone_has_waited(database, tenant, recording):
    """Launched after Tokyo's 09:00: Tokyo's test moves to the next day, so the first roll-out
    wave due is Berlin's, 6 h after Berlin's test, and the winner is chosen then."""
    ws = tenant.workspace_id
    zones = ("Asia/Tokyo", "Europe/Berlin")
    add_users(database, ws, [{"external_id": f"{z}-{i}", "timezone": z} for z in zones for i in range(50)])
    day = date(2026, 3, 10)
    berlin = local_to_utc(day, time(9, 0), "Europe/Berlin")
    launched = local_to_utc(day, time(9, 30), "Asia/Tokyo")
    rollout = {"test_percent": 50, "wait_hours": 6, "metric": "opened"}
    _launch(
        database,
        ws,
        rollout,
        at=launched,
        schedule={"type": "local", "date": day.isoformat(), "time": "09:00"},
    )
    lanes = Lanes(database)
    for instant in (launched, berlin, berlin + timedelta(hours=5, minutes=59)):
        lanes.settle(instant)
        assert _sends(database, ws)[ROLLOUT].decision is None
    lanes.settle(berlin + timedelta(hours=6))
    assert _sends(database, ws)[ROLLOUT].decision["decided_at"] == (berlin + timedelta(hours=6)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rollout": {"test_percent": 0, "wait_hours": 4, "metric": "opened"}}, "rollout.test_percent"),
        ({"rollout": {"test_percent": 100, "wait_hours": 4, "metric": "opened"}}, "rollout.test_percent"),
        ({"rollout": {"test_percent": 20, "wait_hours": 0, "metric": "opened"}}, "rollout.wait_hours"),
        ({"rollout": {"test_percent": 20, "wait_hours": 4, "metric": "revenue"}}, "rollout.metric"),
        ({"rollout": {"test_percent": 20, "wait_hours": 4}}, "rollout.metric"),
        ({"rollout": {"test_percent": 20, "wait_hours": 4, "metric": "converted"}}, "rollout.metric"),
        (
            {"rollout": {"test_percent": 20, "wait_hours": 4, "metric": "opened", "fallback_variant": "Z"}},
            "rollout.fallback_variant",
        ),
        (
            {
                "rollout": {"test_percent": 20, "wait_hours": 4, "metric": "opened"},
                "variants": VARIANTS[:1],
            },
            "rollout",
        ),
        (
            {
                "rollout": {"test_percent": 20, "wait_hours": 4, "metric": "opened"},
                "schedule": {"type": "triggered", "event": "signup"},
            },
            "rollout",
        ),
    ],
)
def test_bad_roll_out_settings_are_refused_naming_the_field(client, tenant, change, field):
    body = campaign_body(**{"variants": VARIANTS, **change})
    response = client.post("/v1/campaigns", json=body, headers=tenant.secret_headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_a_draft_update_is_checked_against_the_roll_out(client, tenant):
    body = campaign_body(variants=VARIANTS, rollout={"test_percent": 20, "wait_hours": 4, "metric": "opened"})
    campaign = ok(client.post("/v1/campaigns", json=body, headers=tenant.secret_headers), 201)
    assert campaign["rollout"]["test_percent"] == 20
    response = client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"variants": VARIANTS[:1]}, headers=tenant.secret_headers
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "rollout"
    cleared = client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"rollout": None}, headers=tenant.secret_headers
    )
    assert ok(cleared)["rollout"] is None
