"""Run a definition three ways on the same rows: the set statement (members_select), the
one-user predicate over every user, and the Python reference."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.kit.db import Database
from app.models import User
from app.segments.compiler import member_predicate, members_select
from tests.segments import reference
from tests.segments.seed import snapshot


@dataclass
class Answers:
    members: set[str]
    one_by_one: set[str]
    reference: set[str]


def evaluate(
    database: Database,
    workspace_id: uuid.UUID,
    definition: dict[str, Any],
    now: datetime,
    segments: dict[uuid.UUID, dict[str, Any]] | None = None,
) -> Answers:
    with database.session(workspace_id) as session:
        answers = evaluate_in(session, workspace_id, definition, now, segments)
        session.rollback()
    return answers


def evaluate_in(
    session: Session,
    workspace_id: uuid.UUID,
    definition: dict[str, Any],
    now: datetime,
    segments: dict[uuid.UUID, dict[str, Any]] | None = None,
) -> Answers:
    """The three answers inside ``session``, which must be scoped to ``workspace_id``."""
    dialect = session.get_bind().dialect.name
    rows = snapshot(session)
    names = {u["id"]: u["external_id"] for u in rows["users"]}
    found = session.scalars(members_select(workspace_id, definition, dialect=dialect, now=now)).all()
    assert len(found) == len(set(found)), "a member was listed twice"
    assert set(found) <= set(names), "a member from outside the workspace"
    one_by_one = _one_by_one(session, workspace_id, definition, dialect, now)
    world = reference.World(rows["users"], rows["events"], rows["devices"], now, segments or {})
    return Answers({names[i] for i in found}, one_by_one, reference.members(world, definition))


def _one_by_one(
    session: Session, workspace_id: uuid.UUID, definition: dict[str, Any], dialect: str, now: datetime
) -> set[str]:
    users = User.__table__
    predicate = member_predicate(workspace_id, definition, dialect=dialect, now=now)
    statement = select(users.c.external_id).where(users.c.workspace_id == workspace_id, predicate)
    return set(session.scalars(statement))
