"""Counts stay right under retries and repeats, end to end: a provider retry sends one user's
message twice under one ledger row, the open pixel and a tracked link are hit twice, the goal
event arrives twice and attribution and the report run twice. The report still says one
user sent, opened, clicked and converted, and two opens and two clicks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.campaigns import service
from app.campaigns.schemas import CampaignCreate
from app.channels.base import Outcome
from app.delivery import channels
from app.models import Delivery
from app.reports.tasks import attribute_all
from app.tracking.links import LinkTarget, TrackingLinks
from app.worker.registry import TaskContext
from tests.campaigns.conftest import RecordingChannel
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body
from tests.fixtures.assertions import ok
from tests.reports.helpers import add_events


def test_retries_and_repeats_count_once_per_user_and_every_repeat(
    client, tenant, database, settings, sink, monkeypatch
):
    recording = RecordingChannel()
    monkeypatch.setattr(channels, "channel_for", lambda *_: recording)
    ws = tenant.workspace_id
    users = add_users(database, ws, [{"external_id": f"u{i}"} for i in range(10)])
    body = campaign_body(goal={"event": "purchase", "window_hours": 72})
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(body))
        campaign, jobs = service.launch(session, campaign.id, now=T0)
    recording.outcome_for[str(users[0])] = Outcome.retry  # the provider asks to try again later
    lanes = Lanes(database)
    lanes.emit(jobs)
    lanes.run(T0)
    recording.outcome_for.clear()
    lanes.simulate(T0, T0 + timedelta(minutes=5))
    assert sum(1 for m in recording.messages if m.user_id == users[0]) == 2  # sent twice...
    with database.transaction(ws) as session:
        row = session.scalars(select(Delivery).where(Delivery.user_id == users[0])).one()  # ...one row
    assert (row.status, row.attempts) == ("sent", 2)

    links = TrackingLinks(settings)
    target = LinkTarget(ws, users[0], row.id, "in_app")
    for _ in range(2):
        assert client.get(links.open_url(target).removeprefix(links.base)).status_code == 200
        click = links.click_url(target, "https://shop.example.com/")
        assert client.get(click.removeprefix(links.base), follow_redirects=False).status_code == 302
    assert row.sent_at is not None
    add_events(
        database,
        ws,
        [(users[0], "purchase", row.sent_at + timedelta(hours=h), {}) for h in (1, 2)],
    )
    context = TaskContext(database=database, sink=sink)
    attribute_all(context)
    attribute_all(context)

    for _ in range(2):
        report = ok(client.get(f"/v1/reports/campaigns/{campaign.id}", headers=tenant.secret_headers))
        funnel = report["funnel"]
        assert (funnel["sent"], funnel["opened"], funnel["clicked"], funnel["converted"]) == (10, 1, 1, 1)
        assert (funnel["opens"], funnel["clicks"]) == (2, 2)
    with database.transaction(ws) as session:
        converted_at = session.scalars(select(Delivery.converted_at).where(Delivery.id == row.id)).one()
    assert converted_at == row.sent_at + timedelta(hours=1)  # the first goal event, kept
