from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, SmallInteger, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.types import UtcDateTime
from app.models.base import Base, TenantScoped


class DeliveryStatus(StrEnum):
    queued = "queued"
    sending = "sending"  # claimed by a dispatcher under a lease
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    expired = "expired"
    cancelled = "cancelled"


def suppressed(reason: str) -> str:
    """``suppressed:<reason>``: unsubscribed, no_address, control, frequency_cap, quiet_hours."""
    return f"suppressed:{reason}"


# The ledger's unique key (the ON CONFLICT target of every insert): one row per (send, user).
LEDGER_KEY = ("workspace_id", "campaign_id", "user_id", "send_id")


class Delivery(TenantScoped, Base):
    """The ledger: one row per (send, user), written before any provider is called. Its id is
    the idempotency id every provider call carries.

    No foreign keys: each would add a trigger lookup to every one of a million snapshot rows
    (it doubled planning time). Sends and campaigns are never deleted once they have rows, and
    dispatch settles a row whose user was erased as ``suppressed:erased``.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        # One row per (send, user). A send belongs to one campaign, so leading with the campaign
        # keeps that key exact and also serves reports and attribution (a user's rows within a
        # campaign): one index where there were two, paid for by each of a million snapshot rows.
        Index("ix_deliveries_workspace_id_campaign_id_user_id_send_id", *LEDGER_KEY, unique=True),
        # The dispatcher's claim: due queued rows in (due_at, id) order, a range scan of this
        # index alone (ordering by id only let the planner pick the primary key and filter).
        Index(
            "ix_deliveries_workspace_id_send_id_due_at_id_queued",
            "workspace_id",
            "send_id",
            "due_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        # Messages per day across campaigns. Rows enter it when sent, not when a snapshot queues
        # them: every index on this table is paid for by each of a million snapshot rows.
        Index(
            "ix_deliveries_workspace_id_sent_at",
            "workspace_id",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
        # The planner's reclaim of expired leases.
        Index(
            "ix_deliveries_workspace_id_lease_until_sending",
            "workspace_id",
            "lease_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)  # no FK (see above)
    send_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(16))
    variant: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(40), default=DeliveryStatus.queued)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    provider_id: Mapped[str | None] = mapped_column(String(255), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Triggered sends: the event that triggered this delivery (templates read it as ``event``).
    # No foreign key, as above; an event removed since renders as an empty ``event``.
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    clicked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    converted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # Kept by the tracking write with each engagement of this row (app/tracking/service.py), so
    # the funnel adds them up in its pass over the ledger instead of joining the engagements:
    # every open and click (repeats included) and the first unsubscribe through this message.
    opens: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
