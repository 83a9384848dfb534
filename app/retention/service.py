"""Retention: delete old rows in small batches, walking the primary key.

Ids are UUIDv7, ordered by the time they were made, so "made before T" is a range on
``(workspace_id, id)`` — the primary key — and needs no extra index on the hot tables.
At very large volumes, monthly partitions dropped whole are cheaper still (docs/operations.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, delete, select, tuple_
from sqlalchemy.orm import Session

from app.delivery.ledger import UNFINISHED
from app.kit.db import current_workspace
from app.kit.ids import uuid7_floor
from app.models import Delivery, Event, InboxItem, JourneyState, JourneyStep, StateStatus

BATCH = 5000


def _boundary(before: datetime) -> uuid.UUID:
    return uuid7_floor(int(before.timestamp() * 1000))


def purge_events_batch(session: Session, received_before: datetime) -> int:
    """Delete up to BATCH of the workspace's events received before ``received_before``."""
    oldest = (
        select(Event.id)
        .where(Event.workspace_id == current_workspace(session), Event.id < _boundary(received_before))
        .order_by(Event.id)
        .limit(BATCH)
    )
    result = session.execute(delete(Event).where(Event.id.in_(oldest.scalar_subquery())))
    return result.rowcount or 0


def purge_deliveries_batch(session: Session, created_before: datetime) -> int:
    """Delete up to BATCH of the workspace's finished deliveries created before
    ``created_before``, with the in-app messages they made."""
    workspace_id = current_workspace(session)
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.workspace_id == workspace_id,
                Delivery.id < _boundary(created_before),
                Delivery.status.not_in(UNFINISHED),  # still owed a send: the ledger's promise first
            )
            .order_by(Delivery.id)
            .limit(BATCH)
        )
    )
    if not ids:
        return 0
    session.execute(
        delete(InboxItem).where(InboxItem.workspace_id == workspace_id, InboxItem.delivery_id.in_(ids))
    )
    result = session.execute(
        delete(Delivery).where(Delivery.workspace_id == workspace_id, Delivery.id.in_(ids))
    )
    return result.rowcount or 0


def purge_journey_steps_batch(session: Session, exited_before: datetime) -> int:
    """Delete up to BATCH step-journal rows of the workspace's passes that exited before
    ``exited_before``. A pass in flight keeps its journal, whatever its age: the journal's
    (pass, position) key is what makes each of its steps happen at most once. An exited pass
    takes no more steps; its state row stays (the re-entry rule reads it).

    A pass that exited before T entered before T, and pass ids are UUIDv7, so the journal's
    primary key (workspace, pass, position) is walked as a range."""
    workspace_id = current_workspace(session)
    J, S = JourneyStep, JourneyState
    oldest = (
        select(J.state_id, J.seq)
        .join(S, and_(S.workspace_id == J.workspace_id, S.id == J.state_id))
        .where(
            J.workspace_id == workspace_id,
            J.state_id < _boundary(exited_before),
            S.status == StateStatus.exited,
            S.exited_at < exited_before,
        )
        .order_by(J.state_id, J.seq)
        .limit(BATCH)
    )
    keys = session.execute(oldest).all()
    if not keys:
        return 0
    result = session.execute(
        delete(J).where(
            J.workspace_id == workspace_id, tuple_(J.state_id, J.seq).in_([tuple(k) for k in keys])
        )
    )
    return result.rowcount or 0
