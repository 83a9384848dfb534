"""Per-campaign reports over the delivery ledger: the funnel, failures, variants with their
statistics, channels, and the funnel over time. Core queries, so each filters on
workspace_id explicitly."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.delivery.rules import CONTROL
from app.experiments.statistics import Arm, comparison_out
from app.models import Delivery, DeliveryStatus, Send
from app.reports.conversions import CONTROL_STATUS, SENT_STATUSES
from app.reports.periods import Period
from app.reports.sql import bucket_index

Metric = Literal["converted", "opened", "clicked"]
Rows = list[dict[str, Any]]

D = Delivery.__table__

_SENT = D.c.status.in_(SENT_STATUSES)
# Unique users at each stage. Control rows are never messages: they count apart.
_STAGES: dict[str, Any] = {
    "sent": _SENT,
    "delivered": and_(_SENT, (D.c.status == DeliveryStatus.delivered) | D.c.delivered_at.is_not(None)),
    "opened": and_(_SENT, D.c.opened_at.is_not(None)),
    "clicked": and_(_SENT, D.c.clicked_at.is_not(None)),
    "converted": and_(_SENT, D.c.converted_at.is_not(None)),
    "failed": D.c.status == DeliveryStatus.failed,
    "control": D.c.status == CONTROL_STATUS,
    "control_converted": and_(D.c.status == CONTROL_STATUS, D.c.converted_at.is_not(None)),
}
_STAGE_TIMES = {
    "sent": D.c.sent_at,
    "opened": D.c.opened_at,
    "clicked": D.c.clicked_at,
    "converted": D.c.converted_at,
}


# The funnel's totals beyond the stages, from counts the tracking write keeps on each ledger
# row: every open and click (repeats included), and users who unsubscribed through a message.
_REPEATS = ("opens", "clicks")
_UNSUBSCRIBED = {"unsubscribed": D.c.unsubscribed_at.is_not(None)}


def _stage_counts(
    where: list[Any],
    *keys: Any,
    one_send: bool,
    stages: dict[str, Any] = _STAGES,
    repeats: tuple[str, ...] = (),
) -> Any:
    """Unique users per stage (per ``keys``), and the sums of the ``repeats`` columns. With one
    send the ledger's unique (send, user) key makes every row a distinct user, so rows are
    counted in one pass. Otherwise one pass flags each user's stages and a second adds the
    flags up (cheaper than a COUNT(DISTINCT) per stage, which sorts once each)."""
    if one_send:
        counts = [func.count().filter(cond).label(name) for name, cond in stages.items()]
        sums = [func.coalesce(func.sum(D.c[name]), 0).label(name) for name in repeats]
        grouped = [k.label("key") for k in keys]
        return select(*grouped, *counts, *sums).where(*where).group_by(*keys).order_by(*keys)
    flags = [func.max(case((cond, 1), else_=0)).label(name) for name, cond in stages.items()]
    flags += [func.sum(D.c[name]).label(name) for name in repeats]
    per_user = (
        select(*keys, D.c.user_id, *flags).where(*where).group_by(*keys, D.c.user_id).subquery("per_user")
    )
    totals = [func.coalesce(func.sum(per_user.c[name]), 0).label(name) for name in (*stages, *repeats)]
    grouped = [per_user.c[k.name].label("key") for k in keys]
    return select(*grouped, *totals).group_by(*grouped).order_by(*grouped)


def _has_one_send(session: Session, campaign_id: uuid.UUID) -> bool:
    return (
        session.scalar(select(func.count()).select_from(Send).where(Send.campaign_id == campaign_id)) or 0
    ) <= 1


def _of_campaign(workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> list[Any]:
    return [D.c.workspace_id == workspace_id, D.c.campaign_id == campaign_id]


def funnel(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any]:
    """Unique users per stage, total opens and clicks (repeats included), unsubscribes: one
    pass over the campaign's ledger rows."""
    stmt = _stage_counts(
        _of_campaign(workspace_id, campaign_id),
        one_send=_has_one_send(session, campaign_id),
        stages={**_STAGES, **_UNSUBSCRIBED},
        repeats=_REPEATS,
    )
    row = session.execute(stmt).one()._asdict()
    return {name: int(row[name]) for name in (*_STAGES, *_REPEATS, *_UNSUBSCRIBED)}


MESSAGE_STAGES = ("sent", "delivered", "opened", "clicked", "converted", "failed")


def message_counts(
    session: Session, workspace_id: uuid.UUID, campaign_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Messages (ledger rows, not unique users) per stage of each campaign, in one statement:
    a journey step messages a user once per pass, and each message counts."""
    # Counted as rows: the one-pass form of the stage counts.
    stmt = _stage_counts(
        [D.c.workspace_id == workspace_id, D.c.campaign_id.in_(campaign_ids)],
        D.c.campaign_id,
        one_send=True,
        stages={name: _STAGES[name] for name in MESSAGE_STAGES},
    )
    found = {row.key: {name: getattr(row, name) for name in MESSAGE_STAGES} for row in session.execute(stmt)}
    return {c: found.get(c, dict.fromkeys(MESSAGE_STAGES, 0)) for c in campaign_ids}


def failures(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Rows:
    """Rows that were not sent, by status and (for failures) the start of the error."""
    reason = func.coalesce(func.substr(D.c.error, 1, 80), "")
    stmt = (
        select(D.c.status, reason.label("reason"), func.count().label("count"))
        .where(*_of_campaign(workspace_id, campaign_id), ~_SENT, D.c.status != CONTROL_STATUS)
        .group_by(D.c.status, reason)
        .order_by(func.count().desc(), D.c.status)
    )
    return [row._asdict() for row in session.execute(stmt)]


def _grouped(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, column: Any) -> Rows:
    stmt = _stage_counts(
        _of_campaign(workspace_id, campaign_id), column, one_send=_has_one_send(session, campaign_id)
    )
    return [row._asdict() for row in session.execute(stmt)]


def channels(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> Rows:
    return [{"channel": r.pop("key"), **r} for r in _grouped(session, workspace_id, campaign_id, D.c.channel)]


def variant_arms(
    session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, metric: Metric
) -> list[Arm]:
    """Each variant's exposures (users sent; for control, users held out) and ``metric`` users."""
    arms: list[Arm] = []
    for row in _grouped(session, workspace_id, campaign_id, D.c.variant):
        if row["key"] is None:
            continue  # not dispatched yet
        if row["key"] == CONTROL:
            arms.append(
                Arm(CONTROL, row["control_converted"] if metric == "converted" else 0, row["control"])
            )
        elif row["sent"]:
            arms.append(Arm(row["key"], row[metric], row["sent"]))
    return arms


def variants(
    session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, metric: Metric, alpha: float
) -> dict[str, Any]:
    """Each variant compared with the statistics module: against control when there is one,
    else against the best variant."""
    arms = variant_arms(session, workspace_id, campaign_id, metric=metric)
    has_control = any(a.name == CONTROL for a in arms)
    if has_control and metric != "converted":
        arms = [a for a in arms if a.name != CONTROL]  # the control group opens and clicks nothing
        has_control = False
    return {"metric": metric, **comparison_out(arms, control=CONTROL if has_control else None, alpha=alpha)}


def timeline(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID, period: Period) -> Rows:
    """Messages sent, first opens, first clicks and conversions per bucket, in one pass over
    the campaign's rows: each row gives one bucket per stage (NULL when the stage is not
    reached or falls outside the period), rows are grouped by those buckets together (few
    distinct combinations, as the stages follow each other closely) and the groups are added
    up per stage here."""
    buckets = []
    for stage, column in _STAGE_TIMES.items():
        index = bucket_index(session, column, period.edges, f"{stage}_edges")
        in_period = and_(_STAGES[stage], column >= period.start, column < period.end)
        buckets.append(case((in_period, index)).label(stage))
    stmt = select(*buckets, func.count().label("rows")).where(*_of_campaign(workspace_id, campaign_id))
    counts = [[0] * len(period.labels) for _ in _STAGE_TIMES]
    for row in session.execute(stmt.group_by(*buckets)):
        for per_bucket, index in zip(counts, row[:-1], strict=True):
            if index is not None:
                per_bucket[index - 1] += row.rows
    return [
        {"bucket": label, **{stage: counts[s][i] for s, stage in enumerate(_STAGE_TIMES)}}
        for i, label in enumerate(period.labels)
    ]
