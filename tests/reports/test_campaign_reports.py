"""Campaign reports on hand-built ledgers: exact funnel counts, repeats, failures, channels,
conversions (window, filters, last touch, control, idempotence), timeline and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.campaigns.schemas import Goal
from app.models import Campaign, Delivery
from app.reports import conversions
from app.reports.tasks import attribute_all
from app.tracking.service import record_engagement
from app.worker.registry import TaskContext
from tests.campaigns.helpers import T0, add_users
from tests.fixtures.assertions import ok
from tests.fixtures.factories import make_tenant
from tests.reports.helpers import add_deliveries, add_events, add_send, make_campaign

H = timedelta(hours=1)


def report(client, tenant, campaign_id, **params):
    return ok(
        client.get(f"/v1/reports/campaigns/{campaign_id}", params=params, headers=tenant.secret_headers)
    )


def engage(database, tenant, user_id, delivery_id, kind):
    with database.transaction(tenant.workspace_id) as session:
        record_engagement(session, user_id=user_id, delivery_id=delivery_id, channel="in_app", kind=kind)


@pytest.mark.smoke
def test_funnel_counts_unique_users_and_every_repeat(client, tenant, database):
    campaign = make_campaign(client, tenant)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(6)])
    ids = add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0]},
            {"user_id": users[1], "status": "delivered", "delivered_at": T0},
            {"user_id": users[2], "variant": "B"},
            {"user_id": users[3], "status": "failed", "error": "provider said no"},
            {"user_id": users[4], "status": "suppressed:unsubscribed"},
            {"user_id": users[5], "status": "suppressed:control", "variant": "control"},
        ],
    )
    for kind in ("open", "open", "click", "click", "click"):
        engage(database, tenant, users[0], ids[0], kind)
    engage(database, tenant, users[1], ids[1], "click")  # a click without a pixel still opened
    engage(database, tenant, users[2], ids[2], "unsubscribe")

    funnel = report(client, tenant, campaign)["funnel"]

    assert funnel == {
        "sent": 3,
        "delivered": 1,
        "opened": 2,
        "clicked": 2,
        "converted": 0,
        "failed": 1,
        "control": 1,
        "control_converted": 0,
        "opens": 2,
        "clicks": 4,
        "unsubscribed": 1,
    }


@pytest.mark.smoke
def test_a_user_sent_twice_is_one_user_at_each_stage(client, tenant, database):
    campaign = make_campaign(client, tenant)
    first, second = (
        add_send(database, tenant.workspace_id, campaign, o) for o in ("2026-03-01", "2026-03-02")
    )
    users = add_users(database, tenant.workspace_id, [{"external_id": "u0"}, {"external_id": "u1"}])
    ids = add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0], "send_id": first},
            {"user_id": users[0], "send_id": second},
            {"user_id": users[1], "send_id": first},
        ],
    )
    for delivery, kind in ((ids[0], "open"), (ids[1], "open"), (ids[1], "click")):
        engage(database, tenant, users[0], delivery, kind)

    body = report(client, tenant, campaign)
    funnel = body["funnel"]
    assert (funnel["sent"], funnel["opened"], funnel["clicked"], funnel["opens"], funnel["clicks"]) == (
        2,
        1,
        1,
        2,
        1,
    )
    assert [(c["channel"], c["sent"], c["opened"]) for c in body["channels"]] == [("in_app", 2, 1)]


@pytest.mark.smoke
def test_failures_by_reason_and_channels(client, tenant, database):
    campaign = make_campaign(client, tenant)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(5)])
    add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0], "status": "failed", "error": "timeout", "channel": "email"},
            {"user_id": users[1], "status": "failed", "error": "timeout", "channel": "email"},
            {"user_id": users[2], "status": "failed", "error": "bad token", "channel": "push"},
            {"user_id": users[3], "status": "suppressed:quiet_hours"},
            {"user_id": users[4], "channel": "email"},
        ],
    )
    body = report(client, tenant, campaign)
    assert body["failures"] == [
        {"status": "failed", "reason": "timeout", "count": 2},
        {"status": "failed", "reason": "bad token", "count": 1},
        {"status": "suppressed:quiet_hours", "reason": "", "count": 1},
    ]
    by_channel = {c["channel"]: (c["sent"], c["failed"]) for c in body["channels"]}
    assert by_channel == {"email": (1, 2), "push": (0, 1), "in_app": (0, 0)}


def converted(database, tenant):
    with database.transaction(tenant.workspace_id) as session:
        return {r.id: r.converted_at for r in session.execute(select(Delivery.id, Delivery.converted_at))}


@pytest.mark.smoke
def test_conversions_window_filters_control_and_idempotence(client, tenant, database):
    goal = {"event": "purchase", "window_hours": 24, "properties": {"plan": "pro", "paid": True}}
    campaign = make_campaign(client, tenant, goal=goal, control_percent=10)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(6)])
    ids = add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0]},  # converts at T0+2h
            {"user_id": users[1]},  # converts after the window: no
            {"user_id": users[2]},  # wrong property: no
            {"user_id": users[3], "status": "suppressed:control", "variant": "control"},  # converts
            {"user_id": users[4], "status": "failed"},  # never sent: no
            {"user_id": users[5]},  # event before the send: no
        ],
    )
    good = {"plan": "pro", "paid": True}
    add_events(
        database,
        tenant.workspace_id,
        [
            (users[0], "purchase", T0 + 2 * H, good),
            (users[0], "purchase", T0 + 3 * H, good),
            (users[1], "purchase", T0 + 25 * H, good),
            (users[2], "purchase", T0 + H, {"plan": "free", "paid": True}),
            (users[3], "purchase", T0 + 5 * H, good),
            (users[4], "purchase", T0 + H, good),
            (users[5], "purchase", T0 - H, good),
            (users[2], "signup", T0 + H, good),
        ],
    )
    with database.transaction(tenant.workspace_id) as session:
        assert (
            conversions.attribute(
                session, tenant.workspace_id, campaign, Goal.model_validate(goal), since=None
            )
            == 2
        )
    first = converted(database, tenant)
    assert first[ids[0]] == T0 + 2 * H
    assert first[ids[3]] == T0 + 5 * H
    assert sum(v is not None for v in first.values()) == 2

    add_events(
        database, tenant.workspace_id, [(users[0], "purchase", T0 + H, good)]
    )  # late-arriving, earlier
    with database.transaction(tenant.workspace_id) as session:
        assert (
            conversions.attribute(
                session, tenant.workspace_id, campaign, Goal.model_validate(goal), since=None
            )
            == 0
        )
    assert converted(database, tenant) == first  # set once

    funnel = report(client, tenant, campaign)["funnel"]
    assert (funnel["converted"], funnel["control"], funnel["control_converted"]) == (1, 1, 1)


@pytest.mark.smoke
def test_last_touch_credits_the_latest_delivery_before_the_event(client, tenant, database):
    goal = {"event": "purchase", "window_hours": 48}
    campaign = make_campaign(client, tenant, goal=goal)
    (user,) = add_users(database, tenant.workspace_id, [{"external_id": "u"}])
    early, late = add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [{"user_id": user, "sent_at": T0}, {"user_id": user, "sent_at": T0 + 10 * H}],
    )
    add_events(database, tenant.workspace_id, [(user, "purchase", T0 + 12 * H, {})])
    report(client, tenant, campaign)  # attributes on demand
    result = converted(database, tenant)
    assert result[late] == T0 + 12 * H
    assert result[early] is None


def test_window_after_open_starts_at_the_open(client, tenant, database):
    goal = {"event": "purchase", "window_hours": 1, "after": "open"}
    campaign = make_campaign(client, tenant, goal=goal)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(3)])
    ids = add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0], "opened_at": T0 + 5 * H},
            {"user_id": users[1]},  # never opened
            {"user_id": users[2], "opened_at": T0 + 5 * H},
        ],
    )
    add_events(
        database,
        tenant.workspace_id,
        [
            (users[0], "purchase", T0 + 5.5 * H, {}),
            (users[1], "purchase", T0 + 0.5 * H, {}),
            (users[2], "purchase", T0 + 0.5 * H, {}),  # before the open
        ],
    )
    report(client, tenant, campaign)
    result = converted(database, tenant)
    assert [result[i] is not None for i in ids] == [True, False, False]


def test_timeline_buckets_are_local_days_of_the_workspace_zone(client, database):
    tenant = make_tenant(database, "Tokyo", timezone="Asia/Tokyo")
    campaign = make_campaign(client, tenant)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(3)])
    # Tokyo is UTC+9: 14:00 UTC is 23:00 on the 1st; 15:59 UTC is 00:59 on the 2nd.
    add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0], "sent_at": T0 + 14 * H},
            {"user_id": users[1], "sent_at": T0 + 15 * H + timedelta(minutes=59)},
            {"user_id": users[2], "sent_at": T0 + 16 * H, "opened_at": T0 + 17 * H},
        ],
    )
    params = {"start": "2026-03-01", "end": "2026-03-02", "interval": "day"}
    body = ok(
        client.get(f"/v1/reports/campaigns/{campaign}/timeline", params=params, headers=tenant.secret_headers)
    )
    assert body["buckets"] == [
        {"bucket": "2026-03-01T00:00:00", "sent": 1, "opened": 0, "clicked": 0, "converted": 0},
        {"bucket": "2026-03-02T00:00:00", "sent": 2, "opened": 1, "clicked": 0, "converted": 0},
    ]
    params["interval"] = "hour"
    hours = ok(
        client.get(f"/v1/reports/campaigns/{campaign}/timeline", params=params, headers=tenant.secret_headers)
    )["buckets"]
    assert len(hours) == 48
    assert {h["bucket"]: h["sent"] for h in hours if h["sent"]} == {
        "2026-03-01T23:00:00": 1,
        "2026-03-02T00:00:00": 1,
        "2026-03-02T01:00:00": 1,
    }


@pytest.mark.smoke
def test_any_report_exports_csv(client, tenant, database):
    campaign = make_campaign(client, tenant)
    users = add_users(database, tenant.workspace_id, [{"external_id": "u0"}, {"external_id": "u1"}])
    add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [{"user_id": users[0]}, {"user_id": users[1], "variant": "B"}],
    )
    by_param = client.get(f"/v1/reports/campaigns/{campaign}?format=csv", headers=tenant.secret_headers)
    by_accept = client.get(
        f"/v1/reports/campaigns/{campaign}", headers={**tenant.secret_headers, "Accept": "text/csv"}
    )
    assert by_param.status_code == by_accept.status_code == 200
    assert by_param.headers["content-type"].startswith("text/csv")
    assert by_param.text == by_accept.text
    rows = list(csv.DictReader(io.StringIO(by_param.text)))
    funnel = next(r for r in rows if r["section"] == "funnel")
    assert funnel["sent"] == "2"
    arms = {r["name"]: r["exposures"] for r in rows if r["section"] == "variants.arms"}
    assert arms == {"A": "1", "B": "1"}


def test_the_periodic_task_attributes_running_campaigns_only(client, tenant, database, sink):
    goal = {"event": "purchase", "window_hours": 24}
    running, draft = make_campaign(client, tenant, goal=goal), make_campaign(client, tenant, goal=goal)
    with database.transaction(tenant.workspace_id) as session:
        session.execute(
            update(Campaign).where(Campaign.id == running).values(status="running", launched_at=T0)
        )
    (user,) = add_users(database, tenant.workspace_id, [{"external_id": "u"}])
    ids = add_deliveries(database, tenant.workspace_id, running, [{"user_id": user}]) + add_deliveries(
        database, tenant.workspace_id, draft, [{"user_id": user}]
    )
    add_events(database, tenant.workspace_id, [(user, "purchase", T0 + H, {})])

    assert attribute_all(TaskContext(database, sink)) == 1
    assert attribute_all(TaskContext(database, sink)) == 0
    result = converted(database, tenant)
    assert (result[ids[0]], result[ids[1]]) == (T0 + H, None)
