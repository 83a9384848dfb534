"""Row-level security still walls tenants off with the once-per-statement policy (Postgres)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.kit.db import scope_to_system
from tests.segments.seed import add_events, add_user
from tests.segments.test_operators import NOW


@pytest.fixture
def two_tenants(tenant, other_tenant, owner_engine):  # type: ignore[no-untyped-def]
    with Session(owner_engine) as session, session.begin():
        for workspace_id, name in ((tenant.workspace_id, "a"), (other_tenant.workspace_id, "b")):
            user_id = add_user(session, workspace_id, name)
            add_events(session, workspace_id, [{"user_id": user_id, "name": "open", "occurred_at": NOW}])
    return tenant.workspace_id, other_tenant.workspace_id


@pytest.mark.parametrize("table", ["users", "events", "user_activity_days"])
def test_raw_sql_without_a_workspace_filter_sees_only_its_workspace(database, two_tenants, table):
    mine, theirs = two_tenants
    with database.session(mine) as session:
        seen = set(session.scalars(text(f"SELECT workspace_id FROM {table}")))
    assert seen == {mine}
    with database.session() as session:
        assert list(session.scalars(text(f"SELECT workspace_id FROM {table}"))) == []
        session.rollback()
        scope_to_system(session)
        assert set(session.scalars(text(f"SELECT workspace_id FROM {table}"))) == {mine, theirs}


def test_writes_into_another_workspace_are_refused(database, two_tenants):
    mine, theirs = two_tenants
    with database.session(mine) as session:
        user_id = session.scalar(text("SELECT id FROM users"))
        with pytest.raises(Exception, match="row-level security"):
            session.execute(
                text("INSERT INTO user_activity_days VALUES (:w, :u, '2025-01-01')"),
                {"w": theirs, "u": user_id},
            )
        session.rollback()
