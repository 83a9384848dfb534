"""The retention cohorts from the weekly rollup equal the cohorts computed from the events, on
randomized workloads through ingest: zones with DST changes inside the range, events arriving
out of order (first_seen_at moving back, across weeks), duplicates, erasure, a zone change."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.events.service import TrackedEvent, ingest
from app.models import User, UserActivityWeek, Workspace
from app.reports import activity_weeks
from app.reports import workspace as reports
from app.reports.periods import period
from app.reports.tasks import rebuild_activity_weeks
from app.users.service import erase
from app.worker.registry import TaskContext

# DST in March-April 2026: New York on 8 March, Berlin on 29 March, Sydney back on 5 April.
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kathmandu"]
START = datetime(2026, 2, 20, tzinfo=UTC)
SPAN_HOURS = 70 * 24


def random_batches(rng: random.Random, users: int, batches: int) -> list[list[TrackedEvent]]:
    made: list[list[TrackedEvent]] = []
    for _ in range(batches):
        batch = []
        for _ in range(rng.randint(1, 12)):
            at = START + timedelta(hours=rng.randrange(SPAN_HOURS), minutes=rng.randrange(60))
            message_id = f"m{rng.randrange(400)}" if rng.random() < 0.3 else None  # some repeat
            batch.append(TrackedEvent(f"u{rng.randrange(users)}", "e", at, {}, b"{}", message_id))
        made.append(batch)
    return made


def set_zone(database, workspace_id, zone: str, *, rollup_too: bool) -> None:
    values = {"timezone": zone, **({"activity_weeks_zone": zone} if rollup_too else {})}
    with database.transaction(workspace_id) as session:
        session.execute(update(Workspace).where(Workspace.id == workspace_id).values(**values))


def both_ways(database, workspace_id, zone: str) -> tuple[list, list]:
    weeks = period(date(2026, 2, 16), date(2026, 5, 3), "week", zone)
    with database.session(workspace_id) as session:
        sizes = reports.cohort_sizes(session, workspace_id, weeks)
        from_events = reports.cohorts(weeks, sizes, reports.retained(session, workspace_id, weeks))
        report = reports.retention(session, workspace_id, weeks, zone)
    return report, from_events


def rollup_rows(database, workspace_id) -> list[tuple]:
    W = UserActivityWeek
    with database.session(workspace_id) as session:
        return session.execute(select(W.user_id, W.week, W.cohort).order_by(W.user_id, W.week)).all()


@pytest.mark.smoke
@pytest.mark.parametrize("seed", range(3))
def test_rollup_cohorts_equal_the_events(database, tenant, seed):
    rng = random.Random(seed)
    workspace_id = tenant.workspace_id
    zone = ZONES[seed % len(ZONES)]
    set_zone(database, workspace_id, zone, rollup_too=True)
    now = START + timedelta(days=90)
    for batch in random_batches(rng, users=25, batches=40):
        with database.transaction(workspace_id) as session:
            ingest(session, batch, now)
    report, from_events = both_ways(database, workspace_id, zone)
    assert report == from_events
    assert sum(row["week_0"] for row in report) > 0  # the workload does fill the table

    with database.transaction(workspace_id) as session:
        known = sorted(session.scalars(select(User.external_id)))
        for external_id in rng.sample(known, 3):
            erase(session, external_id)
    report, from_events = both_ways(database, workspace_id, zone)
    assert report == from_events

    # A zone change: the rollup stays in its zone and the report counts from the events
    # until the rebuild, which brings back the same cohorts in the new zone.
    new_zone = ZONES[(seed + 1) % len(ZONES)]
    set_zone(database, workspace_id, new_zone, rollup_too=False)
    report, from_events = both_ways(database, workspace_id, new_zone)
    assert report == from_events
    with database.transaction(workspace_id) as session:
        assert activity_weeks.rebuild(session, workspace_id)
    with database.transaction(workspace_id) as session:
        assert not activity_weeks.rebuild(session, workspace_id)
    for batch in random_batches(rng, users=30, batches=10):
        with database.transaction(workspace_id) as session:
            ingest(session, batch, now)
    report, from_events = both_ways(database, workspace_id, new_zone)
    assert report == from_events
    with database.session(workspace_id) as session:
        assert session.scalar(select(Workspace.activity_weeks_zone)) == new_zone


@pytest.mark.smoke
def test_an_older_event_moves_the_cohort_of_every_row(database, tenant):
    workspace_id = tenant.workspace_id
    set_zone(database, workspace_id, "Europe/Berlin", rollup_too=True)
    now = datetime(2026, 4, 30, tzinfo=UTC)
    monday_0030_local = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # Monday 30 March, 00:30 CEST

    def track(*instants: datetime) -> None:
        with database.transaction(workspace_id) as session:
            ingest(session, [TrackedEvent("a", "e", at, {}, b"{}", None) for at in instants], now)

    track(monday_0030_local, monday_0030_local + timedelta(days=8))
    assert {cohort for _, _, cohort in rollup_rows(database, workspace_id)} == {date(2026, 3, 30)}
    track(monday_0030_local - timedelta(hours=1))  # Sunday 23:30 local: the week before
    rows = rollup_rows(database, workspace_id)
    assert [(week, cohort) for _, week, cohort in rows] == [
        (date(2026, 3, 23), date(2026, 3, 23)),
        (date(2026, 3, 30), date(2026, 3, 23)),
        (date(2026, 4, 6), date(2026, 3, 23)),
    ]
    report, from_events = both_ways(database, workspace_id, "Europe/Berlin")
    assert report == from_events


def test_the_rebuild_task_rebuilds_workspaces_whose_zone_changed(database, tenant, other_tenant, sink):
    now = datetime(2026, 4, 30, tzinfo=UTC)
    sunday_late_utc = datetime(2026, 3, 22, 23, 30, tzinfo=UTC)  # Monday already in Berlin
    for workspace in (tenant, other_tenant):
        with database.transaction(workspace.workspace_id) as session:
            ingest(session, [TrackedEvent("a", "e", sunday_late_utc, {}, b"{}", None)], now)
    set_zone(database, tenant.workspace_id, "Europe/Berlin", rollup_too=False)
    assert rebuild_activity_weeks(TaskContext(database, sink)) == 1
    assert [week for _, week, _ in rollup_rows(database, tenant.workspace_id)] == [date(2026, 3, 23)]
    assert [week for _, week, _ in rollup_rows(database, other_tenant.workspace_id)] == [date(2026, 3, 16)]
    assert rebuild_activity_weeks(TaskContext(database, sink)) == 0
