"""The schema is built by the migrations, and the migrations agree with the models."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, Table, create_engine, inspect, select

from app.kit.ids import uuid7
from app.kit.migrate import alembic_config, upgrade
from app.models import Base, Event, User, UserActivityWeek, Workspace
from app.users.service import new_user_row
from tests.fixtures.databases import create_postgres_database, create_sqlite_database, drop_postgres_database


def differences(url: str, metadata: MetaData = Base.metadata) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def scratch_url(request, tmp_path):
    """A database of its own, migrated to head, for tests that move it up and down."""
    if request.param == "sqlite":
        yield create_sqlite_database(tmp_path)
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.mark.smoke
def test_models_and_migrations_agree(database_url):
    assert differences(database_url) == []
    assert {t.name for t in Base.metadata.sorted_tables} <= tables(database_url)


def test_the_comparison_notices_a_model_the_migrations_lack(database_url):
    drifted = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["users"].append_column(Column("nickname", String(50)))
    found = differences(database_url, drifted)
    assert any(d[0] == "add_column" and d[3].name == "nickname" for d in found), found


def test_downgrade_to_base_and_upgrade_again(scratch_url):
    config = alembic_config(scratch_url)
    command.downgrade(config, "base")
    assert tables(scratch_url) <= {"alembic_version"}
    upgrade(scratch_url)
    assert differences(scratch_url) == []
    upgrade(scratch_url)  # at head already: nothing to do, nothing breaks


def test_the_weekly_rollup_is_filled_from_the_events_stored_before(scratch_url):
    """Migration 0018 fills the rollup from the events, in each workspace's zone."""
    command.downgrade(alembic_config(scratch_url), "0017")
    workspaces_0017 = Table(
        "workspaces",
        MetaData(),
        *(c._copy() for c in Workspace.__table__.c if c.name != "activity_weeks_zone"),
    )
    workspace_id, user_id, now = uuid7(), uuid7(), datetime(2026, 4, 1, tzinfo=UTC)
    first = datetime(2026, 3, 22, 23, 30, tzinfo=UTC)  # Monday 23 March, 00:30 in Berlin
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                workspaces_0017.insert(),
                {
                    "id": workspace_id,
                    "name": "w",
                    "timezone": "Europe/Berlin",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            conn.execute(
                User.__table__.insert(), {**new_user_row(workspace_id, "a", first, now, now), "id": user_id}
            )
            conn.execute(
                Event.__table__.insert(),
                [
                    {
                        "workspace_id": workspace_id,
                        "id": uuid7(),
                        "user_id": user_id,
                        "name": "e",
                        "occurred_at": at,
                        "received_at": at,
                        "properties": {},
                        "message_id": None,
                    }
                    for at in (first, first + timedelta(hours=1), first + timedelta(days=7))
                ],
            )
        upgrade(scratch_url)
        week = UserActivityWeek.__table__
        with engine.connect() as conn:
            rows = conn.execute(
                select(week.c.user_id, week.c.week, week.c.cohort).order_by(week.c.week)
            ).all()
            zone = conn.scalar(select(Workspace.__table__.c.activity_weeks_zone))
    finally:
        engine.dispose()
    assert zone == "Europe/Berlin"
    assert [tuple(r) for r in rows] == [
        (user_id, date(2026, 3, 23), date(2026, 3, 23)),
        (user_id, date(2026, 3, 30), date(2026, 3, 23)),
    ]
