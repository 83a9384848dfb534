"""Recurring and optimal-time schedules."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from app.campaigns import service
from app.campaigns.occurrences import next_recurring
from app.campaigns.schemas import CampaignCreate, Recurring
from app.kit.ids import uuid7
from app.models import CampaignStatus, Event
from tests.campaigns.helpers import T0, Lanes, add_users, campaign_body, deliveries


def _dates(rule: dict, launched_at: datetime) -> list[str]:
    parsed = Recurring.model_validate({"type": "recurring", "time": "09:00", **rule})
    found, after = [], None
    while (occurrence := next_recurring(parsed, after=after, launched_at=launched_at)) is not None:
        found.append(occurrence.key)
        after = date.fromisoformat(occurrence.key)
    return found


def test_recurring_rules():
    launched = datetime(2026, 1, 1, tzinfo=UTC)
    weekly = {"frequency": "weekly", "weekdays": [0, 3], "start_date": "2026-03-01", "end_date": "2026-03-15"}
    assert _dates(weekly, launched) == ["2026-03-02", "2026-03-05", "2026-03-09", "2026-03-12"]
    monthly = {
        "frequency": "monthly",
        "day_of_month": 31,
        "start_date": "2026-01-15",
        "end_date": "2026-05-01",
    }
    assert _dates(monthly, launched) == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    # Launched at noon UTC on a start day: 09:00 has passed everywhere east of UTC-3, but the
    # western zones still reach it, so the day's occurrence is kept.
    daily = {"frequency": "daily", "start_date": "2026-03-01", "end_date": "2026-03-02", "past_zones": "skip"}
    assert _dates(daily, datetime(2026, 3, 1, 12, tzinfo=UTC)) == ["2026-03-01", "2026-03-02"]
    assert _dates(daily, datetime(2026, 3, 1, 22, tzinfo=UTC)) == ["2026-03-02"]


def test_each_occurrence_is_its_own_send_at_local_time(database, tenant, recording):
    ws = tenant.workspace_id
    berlin, tokyo = add_users(
        database,
        ws,
        [{"external_id": "b", "timezone": "Europe/Berlin"}, {"external_id": "t", "timezone": "Asia/Tokyo"}],
    )
    schedule = {
        "type": "recurring",
        "frequency": "daily",
        "time": "09:00",
        "start_date": "2026-03-02",
        "end_date": "2026-03-04",
    }
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(schedule=schedule)))
        campaign, jobs = service.launch(session, campaign.id, now=T0)
    assert jobs == [] and campaign.next_run_at == datetime(2026, 3, 1, 18, 50, tzinfo=UTC)
    lanes = Lanes(database)
    lanes.simulate(T0, T0 + timedelta(days=4), tick_every=3600)
    got = defaultdict(list)
    for row in deliveries(database, ws):
        assert row.status == "sent"
        got[row.user_id].append(row.sent_at)
    assert sorted(got[berlin]) == [datetime(2026, 3, d, 8, tzinfo=UTC) for d in (2, 3, 4)]
    assert sorted(got[tokyo]) == [datetime(2026, 3, d, 0, tzinfo=UTC) for d in (2, 3, 4)]
    assert len({r.send_id for r in deliveries(database, ws)}) == 3
    with database.transaction(ws) as session:
        assert service.get(session, campaign.id).status == CampaignStatus.completed


def test_optimal_time_uses_each_users_habit(database, tenant, recording):
    ws = tenant.workspace_id
    evening, early, newcomer = add_users(
        database,
        ws,
        [
            {"external_id": "evening", "timezone": "Europe/Berlin"},
            {"external_id": "early", "timezone": "Asia/Kathmandu"},
            {"external_id": "new", "timezone": "Europe/Berlin"},
        ],
    )
    habits = [(evening, 18, 5), (evening, 7, 2), (early, 3, 4), (early, 12, 1)]  # (user, UTC hour, times)
    rows = []
    for user_id, hour, times in habits:
        for n in range(times):
            at = datetime(2026, 2, 1 + n, hour, 20, tzinfo=UTC)
            rows.append(
                {
                    "workspace_id": ws,
                    "id": uuid7(),
                    "user_id": user_id,
                    "name": "session_start",
                    "occurred_at": at,
                    "received_at": at,
                    "properties": {},
                    "message_id": None,
                }
            )
    with database.transaction(ws) as session:
        session.execute(Event.__table__.insert(), rows)
    schedule = {"type": "optimal", "date": "2026-03-10", "fallback_time": "10:00"}
    with database.transaction(ws) as session:
        campaign = service.create(session, CampaignCreate.model_validate(campaign_body(schedule=schedule)))
        service.launch(session, campaign.id, now=T0)
    expected = {
        evening: datetime(2026, 3, 10, 18, tzinfo=UTC),  # 18:xx UTC is 19:xx in Berlin: 19:00 local
        early: datetime(2026, 3, 10, 2, 15, tzinfo=UTC),  # 03:xx UTC is 08:xx in Kathmandu: 08:00 local
        newcomer: datetime(2026, 3, 10, 9, tzinfo=UTC),  # no history: the fallback, 10:00 local
    }
    lanes = Lanes(database)
    for instant in sorted([*expected.values(), datetime(2026, 3, 9, 18, 15, tzinfo=UTC)]):
        lanes.settle(instant)
    got = {r.user_id: (r.due_at, r.sent_at) for r in deliveries(database, ws)}
    assert got == {user: (at, at) for user, at in expected.items()}
