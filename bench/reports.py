"""Each report query over one campaign's 1,000,000 deliveries and their events, on Postgres.

Data (generated in SQL, no API): one send to as many users as deliveries (the common shape;
a campaign with several sends counts unique users through a per-user pass instead, which
costs more); 4 variants and a 10 % control group; about 30 % open (some
twice), 5 % click, a goal event for about 6 % of users inside the window and noise outside;
one activity event per user in one of the 9 weeks before, when the user was first seen (as
ingest keeps it, no user's first_seen_at is after one of their events). Each report is timed
once after a warm-up run (conversion attribution is timed on its first, real run, then reports
attribute nothing new).
The baseline, in the same run: the attribution statement this one replaced (every delivery of
the campaign joined to every goal event of its user, last touch by an anti-join), timed after
the new one on the same data with ``converted_at`` reset; both must convert as many rows.
``--explain`` prints both plans (EXPLAIN ANALYZE, rolled back) to stderr first.
Also in the same run, the reports as they were before (``previous_s``): the funnel joining
every engagement of the campaign to its ledger row (before the ledger kept the counts; the
generated engagements are counted onto the ledger as migration 0017 does), the timeline with
a scan per stage (indexes as before migration 0016, dropped in a transaction rolled back),
and retention's retained-users statement with a COUNT(DISTINCT) per group
(``retention_retained_s``, against the one now), and the retention cohorts computed from the
events (``retention_from_events``) against the ones now read from the weekly rollup (filled
from the generated events as migration 0018 does, ``rollup_build_s``); the run fails unless
the results are equal.

    python bench/reports.py            # 1,000,000 deliveries
    python bench/reports.py --quick    # 50,000 deliveries

Prints one JSON line: bench, deliveries, query_s (seconds per report).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import and_, case, create_engine, distinct, exists, func, or_, select, text, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.campaigns import service  # noqa: E402
from app.campaigns.schemas import CampaignCreate, Goal  # noqa: E402
from app.kit.db import Database  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.models import Campaign, Delivery, Engagement, Event, User  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.reports import activity_weeks, conversions, workspace  # noqa: E402
from app.reports import campaign as reports  # noqa: E402
from app.reports.periods import Period, period  # noqa: E402
from app.reports.sql import bucket_index, plus_hours  # noqa: E402
from app.tracking.service import backfill_counts  # noqa: E402
from app.workspaces.service import create as create_workspace  # noqa: E402
from bench.dispatch import SECRET, _psycopg_url, drop_database, make_database  # noqa: E402

START = "2026-03-01 00:00:00+00"
GOAL = {"event": "purchase", "window_hours": 72}

LOAD = """
INSERT INTO users (workspace_id, id, external_id, attributes, email_status, push_status, in_app_status,
                   first_seen_at, last_seen_at, created_at, updated_at)
SELECT %(w)s, md5('u' || i)::uuid, 'u' || i, '{}', 'subscribed', 'subscribed', 'subscribed',
       t, t, t, t
FROM generate_series(1, %(users)s) AS i,
     LATERAL (SELECT %(start)s::timestamptz - (i %% 63) * interval '1 day' AS t) s;

INSERT INTO deliveries (workspace_id, id, send_id, campaign_id, user_id, channel, variant, status, due_at,
                        attempts, created_at, sent_at, opened_at, clicked_at)
SELECT %(w)s, gen_random_uuid(), md5('send')::uuid, %(c)s, md5('u' || i)::uuid,
       CASE WHEN i %% 3 = 0 THEN 'email' ELSE 'push' END,
       CASE WHEN h < 10 THEN 'control' ELSE chr(65 + h %% 4) END,
       CASE WHEN h < 10 THEN 'suppressed:control' WHEN h < 12 THEN 'failed' ELSE 'sent' END,
       due, 1, due,
       CASE WHEN h >= 12 THEN due END,
       CASE WHEN h >= 12 AND r < 0.3 THEN due + interval '20 minutes' END,
       CASE WHEN h >= 12 AND r < 0.05 THEN due + interval '30 minutes' END
FROM generate_series(1, %(users)s) AS i,
     LATERAL (SELECT abs(hashtext('v' || i)) %% 100 AS h, random() AS r,
                     %(start)s::timestamptz + (i %% 600) * interval '1 minute'
                     AS due) x;

UPDATE deliveries SET error = 'provider timeout' WHERE workspace_id = %(w)s AND status = 'failed';

INSERT INTO engagements (workspace_id, id, user_id, delivery_id, channel, kind, occurred_at)
SELECT workspace_id, gen_random_uuid(), user_id, id, channel, 'open', opened_at + n * interval '1 hour'
FROM deliveries, generate_series(0, 1) AS n
WHERE workspace_id = %(w)s AND opened_at IS NOT NULL AND (n = 0 OR hashtext(id::text) %% 3 = 0)
UNION ALL
SELECT workspace_id, gen_random_uuid(), user_id, id, channel, 'click', clicked_at
FROM deliveries WHERE workspace_id = %(w)s AND clicked_at IS NOT NULL;

INSERT INTO events (workspace_id, id, user_id, name, occurred_at, received_at, properties)
SELECT %(w)s, nudge_uuid7(), md5('u' || i)::uuid, e.name, e.t, e.t, '{}'
FROM generate_series(1, %(users)s) AS i,
     LATERAL (SELECT abs(hashtext('v' || i)) %% 100 AS h) x,
     LATERAL (
        SELECT 'open_app' AS name, %(start)s::timestamptz - (i %% 63) * interval '1 day' AS t
        UNION ALL
        SELECT 'purchase', %(start)s::timestamptz + interval '1 day' + (i %% 3000) * interval '1 minute'
        WHERE random() < CASE WHEN x.h < 10 THEN 0.04 WHEN x.h %% 4 = 1 THEN 0.08 ELSE 0.05 END
        UNION ALL
        SELECT 'purchase', %(start)s::timestamptz + interval '9 days' WHERE random() < 0.02
     ) e;
"""


def load(url: str, deliveries: int) -> tuple[uuid.UUID, uuid.UUID, Database]:
    # The baseline statement can take longer than the 30 s default timeout on a loaded machine.
    settings = Settings(database_url=url, secret_key=SECRET, broker_url=None, statement_timeout_ms=600_000)
    database = Database(settings)
    with database.transaction() as session:
        workspace_id = create_workspace(session, name="Bench", timezone="Europe/Berlin")[0].id
    body = {
        "name": "Bench",
        "channel": "push",
        "audience": {"type": "all"},
        "variants": [{"key": k, "content": {"title": k, "body": k}} for k in "ABCD"],
        "control_percent": 10,
        "schedule": {"type": "immediate"},
        "goal": GOAL,
    }
    with database.transaction(workspace_id) as session:
        campaign_id = service.create(session, CampaignCreate.model_validate(body)).id
    params = {"w": workspace_id, "c": campaign_id, "users": deliveries, "start": START}
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        for statement in LOAD.split(";\n\n"):
            conn.execute(statement, params)
        conn.execute("UPDATE campaigns SET launched_at = %(start)s WHERE id = %(c)s", params)
    # The engagements were written in SQL: their counts on the ledger as the migration sets them.
    owner = create_engine(url)
    with owner.begin() as connection:
        backfill_counts(connection)
    owner.dispose()
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return workspace_id, campaign_id, database


def previous_attribution(session: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID, goal: Goal) -> Any:
    """The baseline: the statement ``conversions.attribute`` ran before (kept here only to
    measure against)."""
    d, e = Delivery.__table__, Event.__table__
    later = d.alias("later")
    anchor, later_anchor = conversions._anchor(d, goal), conversions._anchor(later, goal)
    superseded = exists().where(
        later.c.workspace_id == workspace_id,
        later.c.campaign_id == campaign_id,
        later.c.user_id == d.c.user_id,
        later_anchor > anchor,
        later_anchor < e.c.occurred_at,
    )
    first = (
        select(d.c.id, func.min(e.c.occurred_at).label("converted_at"))
        .select_from(d.join(e, and_(e.c.workspace_id == d.c.workspace_id, e.c.user_id == d.c.user_id)))
        .where(
            d.c.workspace_id == workspace_id,
            d.c.campaign_id == campaign_id,
            d.c.converted_at.is_(None),
            or_(d.c.status == conversions.CONTROL_STATUS, d.c.status.in_(conversions.SENT_STATUSES)),
            e.c.name == goal.event,
            e.c.occurred_at > anchor,
            e.c.occurred_at <= plus_hours(session, anchor, goal.window_hours),
            ~superseded,
        )
        .group_by(d.c.id)
        .subquery("first")
    )
    return (
        update(d)
        .where(d.c.workspace_id == workspace_id, d.c.id == first.c.id)
        .values(converted_at=first.c.converted_at)
    )


def explain(database: Database, workspace_id: uuid.UUID, build: Callable[[Any], Any]) -> None:
    """EXPLAIN ANALYZE of a statement to stderr; its writes are rolled back."""
    session = database.session(workspace_id)
    try:
        dialect = session.get_bind().dialect
        compiled = build(session).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        plan = session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")
        print("\n".join(row[0] for row in plan), file=sys.stderr)
    finally:
        session.rollback()
        session.close()


# The report queries as they were before the one-pass timeline, the distinct retention pairs
# and migration 0016's indexes: kept here only to measure against (and to compare results).
# Migration 0020 dropped 0016's ledger index (campaign, id) again.
PREVIOUS_INDEXES = """
SET LOCAL ROLE postgres;
DROP INDEX ix_engagements_workspace_id_delivery_id;
CREATE INDEX ix_engagements_workspace_id_delivery_id ON engagements (workspace_id, delivery_id);
ANALYZE engagements;
SET LOCAL ROLE {role}
"""
# The funnel joining engagements to the ledger ran with that index: put back for it alone.
FUNNEL_INDEX = """
SET LOCAL ROLE postgres;
CREATE INDEX ix_deliveries_workspace_id_campaign_id_id ON deliveries (workspace_id, campaign_id, id);
SET LOCAL ROLE {role}
"""


def with_previous_indexes(
    database: Database, workspace_id: uuid.UUID, fn: Callable[[Any], Any], ddl: str = PREVIOUS_INDEXES
) -> Any:
    """Runs ``fn`` twice (the second timed) with the indexes as before (``ddl``), in a
    transaction rolled back (DDL is transactional): (seconds, result)."""
    session = database.session(workspace_id)
    try:
        role = database.settings.database_role
        for statement in ddl.format(role=role).strip().split(";\n"):
            session.execute(text(statement))
        fn(session)
        began = time.perf_counter()
        result = fn(session)
        return round(time.perf_counter() - began, 3), result
    finally:
        session.rollback()
        session.close()


def previous_funnel(session: Any, w: uuid.UUID, c: uuid.UUID) -> dict[str, Any]:
    """The funnel before the ledger kept engagement counts: the stages in one pass, then every
    engagement of the campaign joined to its ledger row for opens, clicks and unsubscribes."""
    d, g = Delivery.__table__, Engagement.__table__
    where = reports._of_campaign(w, c)
    stages = session.execute(reports._stage_counts(where, one_send=reports._has_one_send(session, c))).one()
    kinds = (
        select(
            func.count().filter(g.c.kind == "open").label("opens"),
            func.count().filter(g.c.kind == "click").label("clicks"),
            func.count(distinct(case((g.c.kind == "unsubscribe", g.c.user_id)))).label("unsubscribed"),
        )
        .select_from(g.join(d, and_(d.c.workspace_id == g.c.workspace_id, d.c.id == g.c.delivery_id)))
        .where(g.c.workspace_id == w, *where)
    )
    return {**stages._asdict(), **session.execute(kinds).one()._asdict()}


def previous_timeline(session: Any, w: uuid.UUID, c: uuid.UUID, span: Period) -> list[dict[str, Any]]:
    """One scan of the campaign per stage."""
    counts: dict[int, dict[str, int]] = {}
    for stage, column in reports._STAGE_TIMES.items():
        bucket = bucket_index(session, column, span.edges).label("bucket")
        stmt = (
            select(bucket, func.count())
            .where(
                *reports._of_campaign(w, c), reports._STAGES[stage], column >= span.start, column < span.end
            )
            .group_by(bucket)
        )
        for index, count in session.execute(stmt):
            counts.setdefault(index, {})[stage] = count
    return [
        {"bucket": label, **{stage: counts.get(i + 1, {}).get(stage, 0) for stage in reports._STAGE_TIMES}}
        for i, label in enumerate(span.labels)
    ]


def previous_retained(session: Any, w: uuid.UUID, weeks: Period) -> dict[tuple[int, int], int]:
    """The retention statement with a COUNT(DISTINCT) per (cohort, week), the cohort sizes
    (unchanged) left out: compared with ``workspace.retained``."""
    u, e = User.__table__, Event.__table__
    cohort = bucket_index(session, u.c.first_seen_at, weeks.edges, "cohort_edges").label("cohort")
    active = bucket_index(session, e.c.occurred_at, weeks.edges, "active_edges").label("active")
    stmt = (
        select(cohort, active, func.count(distinct(u.c.id)).label("users"))
        .select_from(u.join(e, and_(e.c.workspace_id == u.c.workspace_id, e.c.user_id == u.c.id)))
        .where(
            u.c.workspace_id == w,
            e.c.workspace_id == w,
            u.c.first_seen_at >= weeks.start,
            u.c.first_seen_at < weeks.end,
            e.c.occurred_at >= u.c.first_seen_at,
            e.c.occurred_at < weeks.end,
        )
        .group_by(cohort, active)
    )
    return {(r.cohort, r.active): r.users for r in session.execute(stmt)}


def retention_from_events(session: Any, w: uuid.UUID, weeks: Period) -> list[dict[str, Any]]:
    """The cohort table as it was computed before the weekly rollup: users joined to events."""
    sizes = workspace.cohort_sizes(session, w, weeks)
    return workspace.cohorts(weeks, sizes, workspace.retained(session, w, weeks))


def build_weekly_rollup(url: str) -> float:
    """Fill the weekly rollup from the events, then vacuum it (index-only scans need its
    visibility map, as autovacuum keeps it for a table written at ingest)."""
    owner = create_engine(url)
    began = time.perf_counter()
    with owner.begin() as connection:
        connection.execute(text("DELETE FROM user_activity_weeks"))
        activity_weeks.build_all(connection)
    elapsed = time.perf_counter() - began
    owner.dispose()
    with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE user_activity_weeks")
    return round(elapsed, 3)


# Goal events received after the background pass moved the mark: what a report reads.
TAIL = """
INSERT INTO events (workspace_id, id, user_id, name, occurred_at, received_at, properties)
SELECT %(w)s, nudge_uuid7(), md5('u' || i)::uuid, 'purchase',
       %(start)s::timestamptz + interval '2 days' + (i %% 600) * interval '1 minute', now(), '{}'
FROM generate_series(1, %(users)s, %(step)s) AS i
"""


def reset_conversions(database: Database, workspace_id: uuid.UUID) -> None:
    with database.transaction(workspace_id) as session:
        session.execute(update(Delivery).where(Delivery.converted_at.is_not(None)).values(converted_at=None))
        session.execute(update(Campaign).values(conversions_through=None))


def catch_up(database: Database, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime) -> int:
    with database.transaction(workspace_id) as session:
        campaign = session.get(Campaign, (workspace_id, campaign_id))
        assert campaign is not None
        return conversions.catch_up(session, campaign, now=now)


def report_pass(session: Any, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
    campaign = session.get(Campaign, (workspace_id, campaign_id))
    return conversions.attribute_campaign(session, campaign)


def timed(
    database: Database, workspace_id: uuid.UUID, fn: Callable[[Any], Any], *, warm: bool = True
) -> float:
    runs = 2 if warm else 1
    elapsed = 0.0
    for _ in range(runs):
        with database.transaction(workspace_id) as session:
            began = time.perf_counter()
            fn(session)
            elapsed = time.perf_counter() - began
    return round(elapsed, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50,000 deliveries")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the attribution, to stderr")
    args = parser.parse_args()
    deliveries = 50_000 if args.quick else 1_000_000
    url = make_database()
    try:
        w, c, database = load(url, deliveries)
        goal = Goal.model_validate(GOAL)
        days = period(date(2026, 2, 1), date(2026, 3, 10), "day", "Europe/Berlin")
        hours = period(date(2026, 3, 1), date(2026, 3, 7), "hour", "Europe/Berlin")
        weeks = period(date(2026, 1, 5), date(2026, 3, 8), "week", "Europe/Berlin")
        launch = datetime.fromisoformat(START)
        # The background pass runs as it would once the data is older than the settle lag.
        settled = utcnow() + conversions.SETTLE_LAG

        converted: dict[str, int] = {}  # rows each first pass wrote: they must agree

        def attribution(s: Any) -> Any:
            return conversions.attribution(s, w, c, goal, since=launch)

        def before(s: Any) -> Any:
            return previous_attribution(s, w, c, goal)

        def first_pass(s: Any) -> None:
            converted["now"] = s.execute(attribution(s)).rowcount

        def previous(s: Any) -> None:
            converted["before"] = s.execute(before(s)).rowcount

        if args.explain:
            explain(database, w, before)
            explain(database, w, attribution)

        # A first pass over every goal event since the launch, the new statement first (the
        # colder cache); then the baseline over the same rows.
        attribution_s = {"first_pass": timed(database, w, first_pass, warm=False)}
        reset_conversions(database, w)
        attribution_s["first_pass_previous"] = timed(database, w, previous, warm=False)
        catch_up(database, w, c, settled)  # sets the mark; every row is converted already
        with psycopg.connect(_psycopg_url(url), autocommit=True) as conn:
            conn.execute(TAIL, {"w": w, "users": deliveries, "start": START, "step": 500})
            conn.execute("ANALYZE events")
        # The events were written in SQL: the weekly rollup as migration 0018 fills it.
        rollup_build_s = build_weekly_rollup(url)
        query_s = {
            "conversions": timed(database, w, lambda s: report_pass(s, w, c), warm=False),
            "funnel": timed(database, w, lambda s: reports.funnel(s, w, c)),
            "failures": timed(database, w, lambda s: reports.failures(s, w, c)),
            "variants": timed(
                database, w, lambda s: reports.variants(s, w, c, metric="converted", alpha=0.05)
            ),
            "channels": timed(database, w, lambda s: reports.channels(s, w, c)),
            "timeline_hourly": timed(database, w, lambda s: reports.timeline(s, w, c, hours)),
            "activity": timed(
                database, w, lambda s: workspace.activity(s, w, date(2026, 3, 1), "Europe/Berlin")
            ),
            "new_users": timed(database, w, lambda s: workspace.new_users(s, w, days)),
            "events_by_name": timed(database, w, lambda s: workspace.events_by_name(s, w, days)),
            "messages_by_channel": timed(database, w, lambda s: workspace.messages_by_channel(s, w, days)),
            "retention": timed(database, w, lambda s: workspace.retention(s, w, weeks, "Europe/Berlin")),
            "retention_from_events": timed(database, w, lambda s: retention_from_events(s, w, weeks)),
        }
        # The same reports as before, on the same rows: results must be equal. The funnel as it
        # was with migration 0016's indexes, the others as before them.
        previous_funnel_s, previous_funnel_counts = with_previous_indexes(
            database, w, lambda s: previous_funnel(s, w, c), FUNNEL_INDEX
        )
        baseline_s = {"funnel": previous_funnel_s}
        baseline_s["timeline_hourly"], previous_hours = with_previous_indexes(
            database, w, lambda s: previous_timeline(s, w, c, hours)
        )
        previous_retained_s, previous_weeks = with_previous_indexes(
            database, w, lambda s: previous_retained(s, w, weeks)
        )
        retained_s = {
            "rollup": timed(database, w, lambda s: workspace.retained_weeks(s, w, weeks)),
            "now": timed(database, w, lambda s: workspace.retained(s, w, weeks)),
            "previous": previous_retained_s,
        }
        with database.transaction(w) as session:
            same = (
                reports.funnel(session, w, c) == previous_funnel_counts
                and reports.timeline(session, w, c, hours) == previous_hours
                and workspace.retained(session, w, weeks) == previous_weeks
                and workspace.retention(session, w, weeks, "Europe/Berlin")
                == retention_from_events(session, w, weeks)
            )
        database.dispose()
    finally:
        drop_database(url)
    if converted["now"] != converted["before"]:
        raise SystemExit(f"attribution disagrees with the baseline: {converted}")
    if not same:
        raise SystemExit("a report disagrees with its previous query")
    figures = {
        "bench": "reports",
        "deliveries": deliveries,
        "query_s": query_s,
        "attribution_s": attribution_s,
        "previous_s": baseline_s,
        "retention_retained_s": retained_s,
        "rollup_build_s": rollup_build_s,
    }
    print(orjson.dumps({**figures, "converted": converted["now"]}).decode())


if __name__ == "__main__":
    main()
