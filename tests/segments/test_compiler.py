"""The contract other code relies on: members_select for INSERT ... SELECT, is_member for one user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, MetaData, Table, Uuid, func, insert, select
from sqlalchemy.orm import Session

from app.kit.errors import Invalid
from app.models.base import utcnow
from app.segments.compiler import is_member, members_select
from app.segments.service import create
from tests.segments.seed import add_user

PRO = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}}


@pytest.fixture
def people(tenant, other_tenant, owner_engine):  # type: ignore[no-untyped-def]
    with Session(owner_engine) as session, session.begin():
        ids = {
            name: add_user(session, tenant.workspace_id, name, attributes={"plan": plan})
            for name, plan in (("ann", "pro"), ("bob", "free"), ("cy", "pro"))
        }
        add_user(session, other_tenant.workspace_id, "ann", attributes={"plan": "pro"})
    return ids


@pytest.mark.smoke
def test_members_select_feeds_insert_select(database, tenant, people):
    statement = members_select(tenant.workspace_id, PRO, dialect=database.engine.dialect.name, now=utcnow())
    assert [c.name for c in statement.selected_columns] == ["user_id"]
    audience = Table("audience", MetaData(), Column("user_id", Uuid), prefixes=["TEMPORARY"])
    with database.session(tenant.workspace_id) as session:
        audience.create(session.connection())
        session.execute(insert(audience).from_select(["user_id"], statement))
        stored = set(session.scalars(select(audience.c.user_id)))
        assert session.scalar(select(func.count()).select_from(audience)) == 2
        session.rollback()
    assert stored == {people["ann"], people["cy"]}


@pytest.mark.smoke
def test_is_member_resolves_saved_segments(database, tenant, people):
    with database.session(tenant.workspace_id) as session:
        saved = create(session, name="Pro", description=None, definition=PRO)
        definition = {"version": 1, "match": {"type": "segment", "segment_id": str(saved.id)}}
        assert is_member(session, definition, people["ann"], now=utcnow()) is True
        assert is_member(session, definition, people["bob"], now=utcnow()) is False
        assert is_member(session, saved.definition, people["cy"], now=utcnow()) is True
        assert is_member(session, PRO, uuid.uuid4(), now=utcnow()) is False
        session.rollback()


def test_unresolved_references_are_refused():
    definition = {"version": 1, "match": {"all": [{"type": "segment", "segment_id": str(uuid.uuid4())}]}}
    with pytest.raises(Invalid) as caught:
        members_select(uuid.uuid4(), definition, dialect="postgresql", now=datetime.now(UTC))
    assert caught.value.field == "definition.match.all[0]"


def test_unknown_dialect():
    with pytest.raises(ValueError, match="mysql"):
        members_select(uuid.uuid4(), PRO, dialect="mysql", now=datetime.now(UTC))
