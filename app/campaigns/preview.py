"""The schedule preview: per zone of the audience, the exact UTC instant its users receive the
(next) send and how many they are, plus totals per UTC hour. It reads the same timing and calls
the same functions the planner does (app.campaigns.timing)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.campaigns import audience as audiences
from app.campaigns import occurrences, snapshot
from app.campaigns.schemas import Recurring, Triggered
from app.campaigns.timing import Timing, hour_of, optimal_instants, zone_instant
from app.kit.db import current_workspace
from app.kit.errors import Conflict
from app.models import Campaign, Send, SendStatus, User, Workspace


def _next_timing(session: Session, campaign: Campaign, now: datetime) -> tuple[str, Timing, datetime]:
    """The send to preview: the next unfinished one, or the one launching now would make."""
    send = session.scalars(
        select(Send)
        .where(Send.campaign_id == campaign.id, Send.status == SendStatus.planning)
        .order_by(Send.next_plan_at)
        .limit(1)
    ).first()
    if send is not None:
        return send.occurrence, Timing.from_json(send.timing), send.starts_at
    schedule = occurrences.parse_schedule(campaign.schedule)
    starts_at = campaign.launched_at or now
    if isinstance(schedule, Triggered):
        raise Conflict("triggered campaigns send when each user acts; there is no wave", field="schedule")
    if isinstance(schedule, Recurring):
        last = session.scalars(
            select(Send.occurrence)
            .where(Send.campaign_id == campaign.id)
            .order_by(Send.occurrence.desc())
            .limit(1)
        ).first()
        after = date.fromisoformat(last) if last else None
        occurrence = occurrences.next_recurring(schedule, after=after, launched_at=starts_at)
        if occurrence is None:
            raise Conflict("the recurring schedule has no further occurrence", field="schedule")
        return occurrence.key, occurrence.timing, max(starts_at, occurrences.creation_time(occurrence))
    occurrence = occurrences.one_off(schedule, now)
    assert occurrence is not None
    return occurrence.key, occurrence.timing, starts_at


def preview(session: Session, campaign: Campaign, *, now: datetime) -> dict[str, object]:
    key, timing, starts_at = _next_timing(session, campaign, now)
    workspace_id = current_workspace(session)
    workspace = session.get(Workspace, workspace_id)
    workspace_zone = workspace.timezone if workspace else "UTC"
    where = audiences.condition(session, workspace_id, audiences.parse(campaign.audience), now=now)
    waves: Counter[tuple[str, datetime | None]] = Counter()
    if timing.mode == "optimal":
        habit = snapshot.best_hours(session, workspace_id, timing.engagement_events, now=now)
        rows = session.execute(
            select(User.timezone, habit.c.hour, func.count())
            .outerjoin(habit, habit.c.user_id == User.id)
            .where(where)
            .group_by(User.timezone, habit.c.hour)
        ).all()
        instants: dict[str, tuple[dict[int, datetime | None], datetime | None]] = {}
        for raw, hour, count in rows:
            zone = audiences.effective_zone(raw, workspace_zone)
            if zone not in instants:
                instants[zone] = optimal_instants(timing, zone, starts_at)
            by_hour, fallback = instants[zone]
            waves[(zone, fallback if hour is None else by_hour[int(hour)])] += count
    else:
        rows = session.execute(select(User.timezone, func.count()).where(where).group_by(User.timezone)).all()
        for raw, count in rows:
            zone = audiences.effective_zone(raw, workspace_zone)
            waves[(zone, zone_instant(timing, zone, starts_at))] += count
    hours: defaultdict[datetime, int] = defaultdict(int)
    for (_zone, instant), count in waves.items():
        if instant is not None:
            hours[hour_of(instant)] += count
    zones = [
        {"zone": zone, "send_at": instant, "users": count}
        for (zone, instant), count in sorted(
            waves.items(), key=lambda w: (w[0][1] is None, w[0][1] or now, w[0][0])
        )
    ]
    return {
        "occurrence": key,
        "total": sum(waves.values()),
        "skipped": sum(count for (_z, instant), count in waves.items() if instant is None),
        "zones": zones,
        "hours": [{"hour": hour, "users": count} for hour, count in sorted(hours.items())],
    }
