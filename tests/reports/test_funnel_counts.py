"""The funnel reads the opens, clicks and unsubscribes the tracking write keeps on each ledger
row; on randomized ledgers (one send and several, repeats, engagements of other campaigns and
of no message, bounces, an erased user) they must equal a scan of the engagements themselves,
and the migration's backfill must rebuild them from the engagements alone."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from app.models import Delivery, Engagement
from app.reports.campaign import funnel
from app.tracking.service import backfill_counts, record_engagement
from app.users.service import erase
from tests.campaigns.helpers import add_users
from tests.reports.helpers import add_deliveries, add_send, make_campaign

KINDS = ("open", "open", "open", "click", "click", "unsubscribe", "complaint", "bounce")


def scanned(database: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, int]:
    """Every engagement of the campaign's messages, counted from the engagements."""
    with database.transaction(workspace_id) as session:
        ids = set(session.scalars(select(Delivery.id).where(Delivery.campaign_id == campaign_id)))
        rows = [e for e in session.scalars(select(Engagement)) if e.delivery_id in ids]
    return {
        "opens": sum(1 for e in rows if e.kind == "open"),
        "clicks": sum(1 for e in rows if e.kind == "click"),
        "unsubscribed": len({e.user_id for e in rows if e.kind == "unsubscribe"}),
    }


def counted_in(session: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, int]:
    report = funnel(session, workspace_id, campaign_id)
    return {key: report[key] for key in ("opens", "clicks", "unsubscribed")}


def counted(database: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, int]:
    with database.transaction(workspace_id) as session:
        return counted_in(session, workspace_id, campaign_id)


@pytest.mark.smoke
@pytest.mark.parametrize(("seed", "sends"), [(1, 1), (2, 1), (3, 3), (4, 2)])
def test_counts_kept_by_the_tracking_write_equal_a_scan(client, tenant, database, seed, sends):
    rng = random.Random(seed)
    ws = tenant.workspace_id
    campaign, other = make_campaign(client, tenant), make_campaign(client, tenant)
    send_ids = [add_send(database, ws, campaign, f"2026-03-0{i + 1}") for i in range(sends)]
    users = add_users(database, ws, [{"external_id": f"u{i}"} for i in range(12)])
    rows = [
        {"user_id": user, "send_id": send, "status": rng.choice(["sent", "delivered", "failed"])}
        for send in send_ids
        for user in users
        if rng.random() < 0.8
    ]
    deliveries = add_deliveries(database, ws, campaign, rows)
    elsewhere = add_deliveries(database, ws, other, [{"user_id": u} for u in users[:4]])
    owners = {d: r["user_id"] for d, r in zip(deliveries, rows, strict=True)}
    owners.update(zip(elsewhere, users[:4], strict=True))
    targets: list[uuid.UUID | None] = [*owners, None]
    with database.transaction(ws) as session:
        for _ in range(120):  # repeats included: a user opening twice is two opens
            delivery = rng.choice(targets)
            user = owners[delivery] if delivery is not None else rng.choice(users)
            record_engagement(
                session, user_id=user, delivery_id=delivery, channel="in_app", kind=rng.choice(KINDS)
            )

    expected = scanned(database, ws, campaign)
    assert expected["opens"] > 0 and expected["clicks"] > 0  # the data exercises the counts
    assert counted(database, ws, campaign) == expected

    with database.transaction(ws) as session:
        erase(session, "u0")  # the user's ledger rows and engagements go together
    expected = scanned(database, ws, campaign)
    assert counted(database, ws, campaign) == expected

    with database.transaction(ws) as session:  # lost counts, rebuilt from the engagements
        session.execute(update(Delivery).values(opens=0, clicks=0, unsubscribed_at=None))
        assert counted_in(session, ws, campaign)["opens"] == 0
        backfill_counts(session.connection())
        assert counted_in(session, ws, campaign) == expected
