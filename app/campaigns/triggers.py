"""Triggered campaigns: ingest hands events over (``handoff``), a task matches them against live
triggers and writes queued deliveries due after a delay or at the next local HH:MM.

Ingest pays only a cached set lookup per request; everything else happens in the task.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.campaigns import audience as audiences
from app.campaigns.schemas import PropertyFilter, Triggered
from app.events.listeners import Listener
from app.kit import sql
from app.kit.db import current_workspace
from app.kit.ids import uuid7
from app.kit.timezones import next_local_time
from app.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Event,
    Send,
    SendStatus,
    User,
    Workspace,
)
from app.models.delivery import LEDGER_KEY
from app.models.trigger_entry import TriggerEntry, trigger_entry_id

HANDLE_TASK = "campaigns.handle_triggers"


def _live_triggers(session: Session) -> list[Campaign]:
    return list(
        session.scalars(
            select(Campaign).where(
                Campaign.status == CampaignStatus.running,
                Campaign.schedule["type"].as_string() == "triggered",
            )
        )
    )


# Event names any running triggered campaign of the workspace listens to; launch, pause,
# resume and cancel forget this process's entry at once.
listener = Listener(
    HANDLE_TASK, lambda session: frozenset(c.schedule["event"] for c in _live_triggers(session))
)
handoff = listener.handoff
forget_cache = listener.forget


_MISSING = object()


def _lookup(properties: dict[str, Any], path: str) -> Any:
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _compare(op: str, actual: Any, expected: Any) -> bool:
    try:
        match op:
            case "gt":
                return bool(actual > expected)
            case "gte":
                return bool(actual >= expected)
            case "lt":
                return bool(actual < expected)
            case "lte":
                return bool(actual <= expected)
    except TypeError:
        return False
    raise AssertionError(op)


def matches(filters: Sequence[PropertyFilter], properties: dict[str, Any]) -> bool:
    for f in filters:
        actual = _lookup(properties, f.property)
        if f.op == "exists":
            ok = actual is not _MISSING
        elif actual is _MISSING:
            ok = f.op == "neq"
        elif f.op == "eq":
            ok = actual == f.value
        elif f.op == "neq":
            ok = actual != f.value
        elif f.op == "in":
            ok = isinstance(f.value, list) and actual in f.value
        elif f.op == "contains":
            ok = isinstance(actual, str | list) and f.value in actual
        else:
            ok = _compare(f.op, actual, f.value)
        if not ok:
            return False
    return True


def _enter(
    session: Session, campaign: Campaign, rule: Triggered, firsts: dict[uuid.UUID, datetime]
) -> set[uuid.UUID]:
    """Apply the re-entry rule, one atomic upsert per user; returns the users who entered."""
    entered: set[uuid.UUID] = set()
    for user_id, at in sorted(firsts.items()):
        stmt = sql.insert(session, TriggerEntry).values(
            workspace_id=campaign.workspace_id,
            id=trigger_entry_id(campaign.id, user_id),
            campaign_id=campaign.id,
            user_id=user_id,
            entered_at=at,
            entries=1,
        )
        if rule.reentry == "once":
            stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "id"])
        else:
            stmt = stmt.on_conflict_do_update(
                index_elements=["workspace_id", "id"],
                set_={"entered_at": at, "entries": TriggerEntry.entries + 1},
                where=TriggerEntry.entered_at <= at - timedelta(days=rule.reentry_days),
            )
        if session.execute(stmt.returning(TriggerEntry.user_id)).first() is not None:
            entered.add(user_id)
    return entered


def _trigger_send(session: Session, campaign: Campaign, day: str, now: datetime) -> uuid.UUID:
    """The campaign's send for entries of one UTC day (re-entry is at least a day apart, so a
    user enters at most once per such send and the ledger's (send, user) key still holds)."""
    occurrence = f"trigger:{day}"
    values = {
        "workspace_id": campaign.workspace_id,
        "id": uuid7(),
        "campaign_id": campaign.id,
        "occurrence": occurrence,
        "status": SendStatus.dispatching,
        "timing": {"mode": "trigger"},
        "starts_at": now,
        "planned_zones": [],
        "planned_count": 0,
        "created_at": now,
    }
    session.execute(
        sql.insert(session, Send)
        .values(values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "campaign_id", "occurrence"])
    )
    return session.scalars(
        select(Send.id).where(Send.campaign_id == campaign.id, Send.occurrence == occurrence)
    ).one()


def handle(session: Session, event_ids: Sequence[uuid.UUID], *, now: datetime) -> dict[uuid.UUID, bool]:
    """Match events against running triggers and write their deliveries.

    Returns the sends that got rows, each with whether one of them is due already.
    """
    workspace_id = current_workspace(session)
    events = session.execute(
        select(
            Event.id,
            Event.user_id,
            Event.name,
            Event.occurred_at,
            Event.properties,
            User.external_id,
            User.timezone,
        )
        .join(User, (User.workspace_id == Event.workspace_id) & (User.id == Event.user_id))
        .where(Event.id.in_(event_ids))
        .order_by(Event.occurred_at)
    ).all()
    workspace_zone = session.get(Workspace, workspace_id)
    zone_default = workspace_zone.timezone if workspace_zone else "UTC"
    touched: dict[uuid.UUID, bool] = {}
    for campaign in _live_triggers(session):
        rule = Triggered.model_validate(campaign.schedule)
        audience = audiences.parse(campaign.audience)
        firsts: dict[uuid.UUID, Any] = {}
        for event in events:
            if (
                event.name != rule.event
                or event.user_id in firsts
                or not matches(rule.filters, event.properties)
            ):
                continue
            if audiences.contains(session, audience, event.user_id, event.external_id, now=now):
                firsts[event.user_id] = event
        if not firsts:
            continue
        entered = _enter(session, campaign, rule, {u: e.occurred_at for u, e in firsts.items()})
        sends: dict[str, uuid.UUID] = {}
        rows: list[dict[str, Any]] = []
        for user_id in sorted(entered):
            event = firsts[user_id]
            zone = audiences.effective_zone(event.timezone, zone_default)
            due, expires = _timing(rule, campaign, event.occurred_at, zone)
            day = event.occurred_at.date().isoformat()
            if day not in sends:
                sends[day] = _trigger_send(session, campaign, day, now)
            send_id = sends[day]
            rows.append(
                {
                    "workspace_id": workspace_id,
                    "id": uuid7(),
                    "send_id": send_id,
                    "campaign_id": campaign.id,
                    "user_id": user_id,
                    "channel": campaign.channel,
                    "status": DeliveryStatus.queued,
                    "due_at": due,
                    "expires_at": expires,
                    "attempts": 0,
                    "event_id": event.id,
                    "created_at": now,
                }
            )
            touched[send_id] = touched.get(send_id, False) or due <= now
        if rows:
            session.execute(
                sql.insert(session, Delivery).on_conflict_do_nothing(index_elements=LEDGER_KEY),
                rows,
            )
    return touched


def _timing(
    rule: Triggered, campaign: Campaign, occurred: datetime, zone: str
) -> tuple[datetime, datetime | None]:
    if rule.at_local_time is not None:
        due = next_local_time(occurred, rule.at_local_time, zone)
    else:
        due = occurred + timedelta(minutes=rule.delay_minutes or 0)
    limits = [occurred + timedelta(minutes=rule.expiry_minutes)] if rule.expiry_minutes else []
    if campaign.limits.get("expire_after_minutes"):
        limits.append(due + timedelta(minutes=campaign.limits["expire_after_minutes"]))
    return due, min(limits) if limits else None
