"""A content experiment's results: per variant, the users it was served to (their first
exposure) and those of them who did the goal event within the window after it, compared with
the statistics the campaigns use (against the best variant: content experiments have no
control group)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from app.experiments.statistics import Arm, comparison_out
from app.kit.db import current_workspace
from app.kit.errors import NotFound
from app.models import ContentExposure, Event, Variable
from app.reports.sql import plus_hours

X = ContentExposure.__table__
E = Event.__table__


def results(
    session: Session, experiment: str, *, goal: str, window_hours: int, alpha: float
) -> dict[str, Any]:
    workspace_id = current_workspace(session)
    planned = _variant_keys(session, experiment)
    converted = exists().where(
        E.c.workspace_id == X.c.workspace_id,
        E.c.user_id == X.c.user_id,
        E.c.name == goal,
        E.c.occurred_at >= X.c.first_seen_at,
        E.c.occurred_at < plus_hours(session, X.c.first_seen_at, window_hours),
    )
    counted = session.execute(
        select(X.c.variant, func.count(), func.sum(case((converted, 1), else_=0)))
        .where(X.c.workspace_id == workspace_id, X.c.experiment == experiment)
        .group_by(X.c.variant)
    ).all()
    if not planned and not counted:
        raise NotFound(f"no variable runs the experiment {experiment!r}", field="experiment")
    tally = {variant: (int(exposed), int(conversions or 0)) for variant, exposed, conversions in counted}
    # The variants served so far, and those still planned that nobody has been served yet.
    names = list(dict.fromkeys([*planned, *sorted(tally)]))
    arms = []
    for name in names:
        exposed, conversions = tally.get(name, (0, 0))
        arms.append(Arm(name, conversions, exposed))
    return {
        "experiment": experiment,
        "goal": goal,
        "window_hours": window_hours,
        **comparison_out(arms, control=None, alpha=alpha),
    }


def _variant_keys(session: Session, experiment: str) -> list[str]:
    """The variant keys of the variables running ``experiment`` (named, or by their key)."""
    named = func.coalesce(Variable.experiment, Variable.key) == experiment
    found = session.scalars(select(Variable.variants).where(named, Variable.archived_at.is_(None)))
    return list(dict.fromkeys(v["key"] for variants in found for v in variants))
