"""A large snapshot wave split into statements over disjoint ranges of user ids, run at once,
each on its own connection and transaction (Postgres only).

Postgres runs the SELECT of an ``INSERT ... SELECT`` on one core, so a wave of a million rows
as one statement leaves the other cores idle. The ranges come from a block sample of the
wave's users (``TABLESAMPLE SYSTEM``, about a hundred pages), which also estimates the wave's
size: waves estimated below ``plan_parallel_min_rows`` stay one statement in the planning
transaction. Each range keeps the ``(workspace_id, id)`` primary key usable.

Parts commit on their own while the planning transaction holds the send. If a part fails or
the process dies, that transaction does not mark the wave planned, so the next tick plans it
again and the ledger key (``LEDGER_KEY``) with ``ON CONFLICT DO NOTHING`` adds
only the rows still missing (the planner then counts what the send holds instead of trusting
the rerun's row counts). Rows committed early are ordinary queued deliveries: lanes already
running for the send's earlier waves may send them, new lanes start after the planning commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Executable,
    Uuid,
    and_,
    any_,
    bindparam,
    select,
    tablesample,
    text,
)
from sqlalchemy.orm import Session

from app.kit.db import Database
from app.models import User

# Pages read to sample a wave: a few thousand users at typical row widths, each then looked up
# by id to apply the audience (most of the sample's cost).
SAMPLE_PAGES = 100
_PAGES = text("SELECT pg_relation_size('users') / current_setting('block_size')::int")


@dataclass(frozen=True)
class Parallel:
    """How a large wave is split: into ``parts`` statements when it has ``min_rows`` or more."""

    database: Database
    parts: int
    min_rows: int


def insert(
    session: Session,
    workspace_id: uuid.UUID,
    where: ColumnElement[bool],
    statement: Callable[[ColumnElement[bool]], Executable],
    parallel: Parallel | None,
) -> int:
    """Run ``statement(where)``, split when ``parallel`` says so; returns the rows inserted."""
    cuts = _cuts(session, workspace_id, where, parallel) if parallel is not None else []
    if not cuts:
        return _rowcount(session, statement(where))
    assert parallel is not None
    ranges = pairwise([None, *cuts, None])
    statements = [statement(and_(where, _between(low, high))) for low, high in ranges]
    with ThreadPoolExecutor(len(statements)) as pool:
        return sum(pool.map(partial(run_part, parallel.database, workspace_id), statements))


def run_part(database: Database, workspace_id: uuid.UUID, statement: Executable) -> int:
    """One part, in its own transaction scoped to the workspace."""
    with database.transaction(workspace_id) as session:
        return _rowcount(session, statement)


def _rowcount(session: Session, statement: Executable) -> int:
    return session.connection().execute(statement).rowcount


def _between(low: uuid.UUID | None, high: uuid.UUID | None) -> ColumnElement[bool]:
    """``low <= id < high``; an open end where a bound is None, so the parts cover everyone."""
    above = [User.id >= low] if low is not None else []
    below = [User.id < high] if high is not None else []
    return and_(*above, *below)


def _cuts(
    session: Session, workspace_id: uuid.UUID, where: ColumnElement[bool], parallel: Parallel
) -> list[uuid.UUID]:
    """Ids splitting the wave into ``parts`` ranges of about equal size; none for a small wave."""
    pages = session.scalar(_PAGES) or 0
    percent = min(100.0, 100.0 * SAMPLE_PAGES / max(pages, 1))
    sampled = tablesample(User.__table__, percent, name="sampled")
    candidates = list(session.scalars(select(sampled.c.id).where(sampled.c.workspace_id == workspace_id)))
    if not candidates:
        return []
    ids = bindparam("sampled_ids", candidates, type_=ARRAY(Uuid()))
    wave = sorted(session.scalars(select(User.id).where(where, User.id == any_(ids))))
    if len(wave) * 100.0 / percent < parallel.min_rows or len(wave) < parallel.parts:
        return []
    return sorted({wave[len(wave) * k // parallel.parts] for k in range(1, parallel.parts)})
