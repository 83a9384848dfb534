"""The engine's bulk writes. On Postgres each is one statement over ``unnest``-ed arrays (a
batch's rows bound as a few array parameters, not one parameter per value: binding 500 rows
the generic way cost more than the work); elsewhere (embedded SQLite) the plain statement.
Every statement filters on ``workspace_id`` itself."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.orm import Session

from app.kit import sql
from app.models import Delivery
from app.models.delivery import LEDGER_KEY
from app.models.journey_state import JourneyState
from app.models.journey_step import JourneyStep

STATES = JourneyState.__table__
STEPS = JourneyStep.__table__
STATE_FIELDS = ("status", "step", "seq", "due_at", "waiting_since", "exited_at", "exit_reason")

_JOURNAL = text(
    """
    INSERT INTO journey_steps (workspace_id, state_id, seq, journey_id, version, step, outcome, at)
    SELECT :workspace_id, v.state_id, v.seq, v.journey_id, v.version, v.step, v.outcome, :at
    FROM unnest(CAST(:state_ids AS uuid[]), CAST(:seqs AS int[]), CAST(:journey_ids AS uuid[]),
                CAST(:versions AS int[]), CAST(:steps AS text[]), CAST(:outcomes AS text[]))
         AS v(state_id, seq, journey_id, version, step, outcome)
    ON CONFLICT (workspace_id, state_id, seq) DO NOTHING
    RETURNING state_id, seq
    """
)
_OUTCOMES = text(
    """
    UPDATE journey_steps AS j SET outcome = v.outcome
    FROM unnest(CAST(:state_ids AS uuid[]), CAST(:seqs AS int[]), CAST(:outcomes AS text[]))
         AS v(state_id, seq, outcome)
    WHERE j.workspace_id = :workspace_id AND j.state_id = v.state_id AND j.seq = v.seq
      AND j.state_id = ANY(CAST(:state_ids AS uuid[]))
    """
)
_STATES = text(
    """
    UPDATE journey_states AS s SET status = v.status, step = v.step, seq = v.seq, due_at = v.due_at,
        waiting_since = v.waiting_since, exited_at = v.exited_at, exit_reason = v.exit_reason
    FROM unnest(CAST(:ids AS uuid[]), CAST(:status AS text[]), CAST(:step AS text[]), CAST(:seq AS int[]),
                CAST(:due_at AS timestamptz[]), CAST(:waiting_since AS timestamptz[]),
                CAST(:exited_at AS timestamptz[]), CAST(:exit_reason AS text[]))
         AS v(id, status, step, seq, due_at, waiting_since, exited_at, exit_reason)
    WHERE s.workspace_id = :workspace_id AND s.id = v.id AND s.id = ANY(CAST(:ids AS uuid[]))
    """
)
_DELIVERIES = text(
    """
    INSERT INTO deliveries (workspace_id, id, send_id, campaign_id, user_id, channel, status, due_at,
                            attempts, created_at)
    SELECT :workspace_id, v.id, v.send_id, v.campaign_id, v.user_id, v.channel, 'queued', :now, 0, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:send_ids AS uuid[]), CAST(:campaign_ids AS uuid[]),
                CAST(:user_ids AS uuid[]), CAST(:channels AS text[]))
         AS v(id, send_id, campaign_id, user_id, channel)
    ON CONFLICT (workspace_id, campaign_id, user_id, send_id) DO NOTHING  -- LEDGER_KEY
    """
)


_EARLIER = text(
    """
    SELECT u.id AS user_id, p.entry, p.entered_at, p.active
    FROM unnest(CAST(:user_ids AS uuid[])) AS u(id)
    CROSS JOIN LATERAL (
        SELECT max(s.entry) AS entry, max(s.entered_at) AS entered_at, bool_or(s.status = 'active') AS active
        FROM journey_states AS s
        WHERE s.workspace_id = :workspace_id AND s.journey_id = :journey_id AND s.user_id = u.id
    ) AS p
    WHERE p.entry IS NOT NULL
    """
)
_ENTRIES = text(
    """
    INSERT INTO journey_states (workspace_id, id, journey_id, version, user_id, entry, status, step, seq,
                                due_at, event, entered_at)
    SELECT :workspace_id, v.id, :journey_id, :version, v.user_id, v.entry, 'active', :step, 0, :now,
           CAST(v.event AS jsonb), :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:user_ids AS uuid[]), CAST(:entries AS int[]),
                CAST(:events AS text[])) AS v(id, user_id, entry, event)
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)


def _columns(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [r[name] for r in rows] for name in names}


def insert_journal(
    session: Session, workspace_id: uuid.UUID, rows: Sequence[dict[str, Any]], at: datetime
) -> set[tuple[uuid.UUID, int]]:
    """Journal rows ``{state_id, seq, journey_id, version, step, outcome}``; returns the keys
    actually inserted (a key already there is a step already taken)."""
    if not rows:
        return set()
    if sql.is_postgres(session):
        params = {
            "workspace_id": workspace_id,
            "at": at,
            "state_ids": [r["state_id"] for r in rows],
            "seqs": [r["seq"] for r in rows],
            "journey_ids": [r["journey_id"] for r in rows],
            "versions": [r["version"] for r in rows],
            "steps": [r["step"] for r in rows],
            "outcomes": [r["outcome"] for r in rows],
        }
        return {(state_id, seq) for state_id, seq in session.execute(_JOURNAL, params)}
    stmt = (
        sql.insert(session, JourneyStep)
        .on_conflict_do_nothing(index_elements=["workspace_id", "state_id", "seq"])
        .returning(JourneyStep.state_id, JourneyStep.seq)
    )
    values = [{**r, "workspace_id": workspace_id, "at": at} for r in rows]
    return {(r.state_id, r.seq) for r in session.execute(stmt, values)}


def set_outcomes(
    session: Session, workspace_id: uuid.UUID, rows: Sequence[tuple[uuid.UUID, int, str]]
) -> None:
    """The outcome of waits that ended: ``(state id, seq, outcome)``."""
    if not rows:
        return
    if sql.is_postgres(session):
        state_ids, seqs, outcomes = (list(c) for c in zip(*rows, strict=True))
        params = {"workspace_id": workspace_id, "state_ids": state_ids, "seqs": seqs, "outcomes": outcomes}
        with sql.hash_joins(session):
            session.execute(_OUTCOMES, params)
        return
    session.connection().execute(
        update(STEPS)
        .where(
            STEPS.c.workspace_id == workspace_id,
            STEPS.c.state_id == bindparam("s"),
            STEPS.c.seq == bindparam("q"),
        )
        .values(outcome=bindparam("o")),
        [{"s": s, "q": q, "o": o} for s, q, o in rows],
    )


def update_states(session: Session, workspace_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> None:
    """Every field of ``STATE_FIELDS`` for each state ``{id, ...}``."""
    if not rows:
        return
    if sql.is_postgres(session):
        params = {
            "workspace_id": workspace_id,
            "ids": [r["id"] for r in rows],
            **_columns(rows, STATE_FIELDS),
        }
        with sql.hash_joins(session):
            session.execute(_STATES, params)
        return
    session.connection().execute(
        update(STATES)
        .where(STATES.c.workspace_id == workspace_id, STATES.c.id == bindparam("state_id"))
        .values({name: bindparam(name) for name in STATE_FIELDS}),
        [{"state_id": r["id"], **{n: r[n] for n in STATE_FIELDS}} for r in rows],
    )


def insert_deliveries(
    session: Session, workspace_id: uuid.UUID, rows: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Queued deliveries ``{id, send_id, campaign_id, user_id, channel}`` due ``now``."""
    if not rows:
        return
    if sql.is_postgres(session):
        params = {
            "workspace_id": workspace_id,
            "now": now,
            "ids": [r["id"] for r in rows],
            "send_ids": [r["send_id"] for r in rows],
            "campaign_ids": [r["campaign_id"] for r in rows],
            "user_ids": [r["user_id"] for r in rows],
            "channels": [r["channel"] for r in rows],
        }
        session.execute(_DELIVERIES, params)
        return
    values = [
        {
            **r,
            "workspace_id": workspace_id,
            "status": "queued",
            "due_at": now,
            "attempts": 0,
            "created_at": now,
        }
        for r in rows
    ]
    session.execute(
        sql.insert(session, Delivery).on_conflict_do_nothing(index_elements=LEDGER_KEY),
        values,
    )


def insert_states(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """New passes (rows as for ``journey_states``, all of one journey version, step and time);
    returns how many were inserted (a racing entry of the same user loses quietly)."""
    if not rows:
        return 0
    if sql.is_postgres(session):
        first = rows[0]
        params = {
            "workspace_id": first["workspace_id"],
            "journey_id": first["journey_id"],
            "version": first["version"],
            "step": first["step"],
            "now": first["entered_at"],
            "ids": [r["id"] for r in rows],
            "user_ids": [r["user_id"] for r in rows],
            "entries": [r["entry"] for r in rows],
            "events": [orjson.dumps(r["event"]).decode() for r in rows],
        }
        return len(session.execute(_ENTRIES, params).all())
    stmt = sql.insert(session, JourneyState).on_conflict_do_nothing().returning(JourneyState.id)
    return len(session.execute(stmt, list(rows)).all())


def earlier_passes(
    session: Session, workspace_id: uuid.UUID, journey_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Any]:
    """Each user's earlier passes of the journey: ``entry`` (the last number), ``entered_at``
    (the last), ``active`` (one is in progress). One index probe per user, by construction
    (a LATERAL subquery): with a plain join or an ``IN`` list, a table whose statistics lag
    (states entered in the same transaction) got plans that scanned the journey's every
    state once per user."""
    if sql.is_postgres(session):
        params = {"workspace_id": workspace_id, "journey_id": journey_id, "user_ids": list(user_ids)}
        rows = session.execute(_EARLIER, params)
    else:
        S = JourneyState
        rows = session.execute(
            select(
                S.user_id,
                func.max(S.entry).label("entry"),
                func.max(S.entered_at).label("entered_at"),
                func.max(case((S.status == "active", 1), else_=0)).label("active"),
            )
            .where(S.workspace_id == workspace_id, S.journey_id == journey_id, S.user_id.in_(list(user_ids)))
            .group_by(S.user_id)
        )
    return {row.user_id: row for row in rows}
