"""The schema is built by the migrations, and the migrations agree with the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, MetaData, String, create_engine, inspect

from app.kit.migrate import alembic_config, upgrade
from app.models import Base
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
