"""Applying what providers told us: the dispatcher calls ``apply_feedback`` with a chunk's
messages and results, inside the transaction that writes the chunk's statuses.

Feedback keys a channel may set on a SendResult:
- ``disable_device``: device id; the token is dead (FCM UNREGISTERED, APNs Unregistered...)
- ``remove_device``: device id; a Web Push subscription that is gone (404/410)
- ``suppress_email``: address, with ``reason`` (bounce/complaint) and ``detail``
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.channels.base import OutboundMessage, SendResult
from app.models import Device
from app.models.base import utcnow
from app.tracking.service import record_engagement, suppress_email


def apply_feedback(
    session: Session, messages: Sequence[OutboundMessage], results: Sequence[SendResult]
) -> None:
    users: dict[uuid.UUID, uuid.UUID] | None = None  # built only if some result has feedback
    for result in results:
        feedback = result.feedback
        if not feedback:
            continue
        if "disable_device" in feedback:
            disable_device(
                session, uuid.UUID(str(feedback["disable_device"])), result.error or "invalid token"
            )
        if "remove_device" in feedback:
            session.execute(delete(Device).where(Device.id == uuid.UUID(str(feedback["remove_device"]))))
        if "suppress_email" in feedback:
            reason = str(feedback.get("reason", "bounce"))
            suppress_email(
                session, email=str(feedback["suppress_email"]), reason=reason, detail=feedback.get("detail")
            )
            if users is None:
                users = {m.delivery_id: m.user_id for m in messages}
            user_id = users.get(result.delivery_id)
            if user_id is not None:
                record_engagement(
                    session, user_id=user_id, delivery_id=result.delivery_id, channel="email", kind=reason
                )


def disable_device(session: Session, device_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(Device)
        .where(Device.id == device_id)
        .values(enabled=False, disabled_reason=reason[:100], updated_at=utcnow())
    )
