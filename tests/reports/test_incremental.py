"""Incremental conversion attribution: a pass reads only goal events received after the
campaign's mark, and the background pass moves the mark no further than is safe."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.kit.ids import uuid7, uuid7_floor
from app.models import Campaign, Delivery, Event, Send
from app.models.base import utcnow
from app.reports import conversions
from tests.campaigns.helpers import T0, add_users
from tests.reports.helpers import add_deliveries, add_send, make_campaign

GOAL = {"event": "purchase", "window_hours": 72}


def _ms(instant):
    return int(instant.timestamp() * 1000)


def _purchase(database, workspace_id, user_id, event_id, at=T0 + timedelta(hours=1)):
    with database.transaction(workspace_id) as session:
        session.execute(
            Event.__table__.insert(),
            {
                "workspace_id": workspace_id,
                "id": event_id,
                "user_id": user_id,
                "name": "purchase",
                "occurred_at": at,
                "received_at": at,
                "properties": {},
                "message_id": None,
            },
        )


def _launched(client, tenant, database):
    campaign_id = make_campaign(client, tenant, goal=GOAL)
    with database.transaction(tenant.workspace_id) as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status="running", launched_at=T0)
        )
    return campaign_id


def _catch_up(database, tenant, campaign_id, now):
    with database.transaction(tenant.workspace_id) as session:
        campaign = session.get(Campaign, (tenant.workspace_id, campaign_id))
        converted = conversions.catch_up(session, campaign, now=now)
        return converted, campaign.conversions_through


def _converted(database, tenant):
    with database.transaction(tenant.workspace_id) as session:
        return {
            r.user_id for r in session.scalars(select(Delivery).where(Delivery.converted_at.is_not(None)))
        }


def test_a_pass_reads_only_events_received_after_the_mark(client, tenant, database):
    campaign_id = _launched(client, tenant, database)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(3)])
    add_deliveries(database, tenant.workspace_id, campaign_id, [{"user_id": u} for u in users])
    _purchase(database, tenant.workspace_id, users[0], uuid7())
    now = utcnow() + timedelta(minutes=5)

    converted, mark = _catch_up(database, tenant, campaign_id, now)

    assert converted == 1 and _converted(database, tenant) == {users[0]}
    assert mark == uuid7_floor(_ms(now - conversions.SETTLE_LAG))
    # An event with an id below the mark counts as already read; a new one is read.
    _purchase(database, tenant.workspace_id, users[1], uuid7_floor(_ms(now) - 600_000))
    _purchase(database, tenant.workspace_id, users[2], uuid7_floor(_ms(now) + 1))
    with database.transaction(tenant.workspace_id) as session:
        campaign = session.get(Campaign, (tenant.workspace_id, campaign_id))
        assert conversions.attribute_campaign(session, campaign) == 1
    assert _converted(database, tenant) == {users[0], users[2]}
    # The mark never moves back, and moving it is not an edit of the campaign.
    with database.transaction(tenant.workspace_id) as session:
        edited = session.get(Campaign, (tenant.workspace_id, campaign_id)).updated_at
    assert _catch_up(database, tenant, campaign_id, now - timedelta(hours=1))[1] == mark
    assert _catch_up(database, tenant, campaign_id, now + timedelta(hours=1))[1] > mark
    with database.transaction(tenant.workspace_id) as session:
        assert session.get(Campaign, (tenant.workspace_id, campaign_id)).updated_at == edited


def test_the_mark_waits_for_rows_still_due(client, tenant, database):
    campaign_id = _launched(client, tenant, database)
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(2)])
    send_id = add_send(database, tenant.workspace_id, campaign_id, "once")
    with database.transaction(tenant.workspace_id) as session:
        session.execute(update(Send).where(Send.id == send_id).values(status="dispatching"))
    now = utcnow()
    due = now - timedelta(minutes=30)
    add_deliveries(
        database,
        tenant.workspace_id,
        campaign_id,
        [
            {"user_id": users[0], "send_id": send_id, "status": "queued", "due_at": due},
            {"user_id": users[1], "send_id": send_id, "status": "queued", "due_at": now + timedelta(days=1)},
        ],
    )

    assert _catch_up(database, tenant, campaign_id, now)[1] == uuid7_floor(_ms(due))
    # Once that row is settled (a control row: its window opened at due_at), the mark moves on.
    with database.transaction(tenant.workspace_id) as session:
        session.execute(
            update(Delivery).where(Delivery.user_id == users[0]).values(status="suppressed:control")
        )
    _purchase(database, tenant.workspace_id, users[0], uuid7(), at=due + timedelta(minutes=1))
    converted, mark = _catch_up(database, tenant, campaign_id, now)
    assert converted == 1 and mark == uuid7_floor(_ms(now - conversions.SETTLE_LAG))
