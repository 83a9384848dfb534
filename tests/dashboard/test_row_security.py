"""Postgres row-level security on the dashboard's tables, below the ORM: memberships are
visible to their workspace or their own operator, invitations to their workspace only."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.kit.db import scope_to_operator, scope_to_workspace
from tests.dashboard.helpers import make_operator
from tests.fixtures.factories import make_tenant


@pytest.fixture
def two_workspaces(database):  # type: ignore[no-untyped-def]
    a, b = make_tenant(database, "A"), make_tenant(database, "B")
    ada = make_operator(database, "ada@example.com", a.workspace_id, "owner")
    bob = make_operator(database, "bob@example.com", b.workspace_id, "owner")
    with database.transaction(a.workspace_id) as session:
        session.execute(
            text("INSERT INTO memberships VALUES (:w, :o, 'viewer', now(), now())"),
            {"w": a.workspace_id, "o": bob},
        )
    return a.workspace_id, b.workspace_id, ada, bob


def _memberships(session) -> set[tuple]:  # type: ignore[no-untyped-def]
    return {tuple(r) for r in session.execute(text("SELECT workspace_id, operator_id FROM memberships"))}


def test_memberships_are_visible_to_their_workspace_or_their_operator(database, two_workspaces):
    a, b, ada, bob = two_workspaces
    with database.session() as session:
        assert _memberships(session) == set()  # no scope: nothing
    with database.session(a) as session:
        assert _memberships(session) == {(a, ada), (a, bob)}
    with database.session() as session:
        scope_to_operator(session, ada)
        assert _memberships(session) == {(a, ada)}
    with database.session() as session:
        scope_to_operator(session, bob)
        assert _memberships(session) == {(a, bob), (b, bob)}


def test_an_operator_scope_cannot_write_memberships_elsewhere(database, two_workspaces):
    a, b, ada, _bob = two_workspaces
    with database.session() as session, pytest.raises(Exception, match="row-level security"):
        scope_to_operator(session, ada)
        session.execute(
            text("INSERT INTO memberships VALUES (:w, :o, 'owner', now(), now())"), {"w": b, "o": ada}
        )
        session.flush()
    with database.session() as session:
        scope_to_operator(session, ada)
        scope_to_workspace(session, a)
        updated = session.execute(
            text("UPDATE memberships SET role = 'viewer' WHERE workspace_id = :w"), {"w": b}
        ).rowcount
        assert updated == 0


def test_invitations_are_walled_by_workspace(database, two_workspaces):
    a, b, _ada, _bob = two_workspaces
    with database.transaction(a) as session:
        session.execute(
            text(
                "INSERT INTO invitations"
                " (workspace_id, id, email, role, token_hash, expires_at, created_at, updated_at)"
                " VALUES (:w, gen_random_uuid(), 'x@example.com', 'viewer', 'h', now(), now(), now())"
            ),
            {"w": a},
        )
    with database.session(b) as session:
        assert session.execute(text("SELECT count(*) FROM invitations")).scalar() == 0
    with database.session(a) as session:
        assert session.execute(text("SELECT count(*) FROM invitations")).scalar() == 1
