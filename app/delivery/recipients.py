"""Who in a chunk can be reached at all, and where: channel and category opt-outs,
suppressed addresses, and usable addresses (an email; enabled devices for push)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.delivery.ledger import Recipient
from app.models import Campaign, Device
from app.preferences.service import CHANNELS as PREFERENCE_CHANNELS
from app.preferences.service import allowed_users
from app.tracking.service import suppressed_emails


@dataclass
class Reachable:
    """Who may be sent to at all: allowed by their preferences, with usable addresses."""

    addresses: dict[uuid.UUID, list[dict[str, Any]]]
    allowed: set[uuid.UUID] | None  # None: the channel has no opt-out (webhook)
    blocked: set[uuid.UUID]  # their address is suppressed (bounced, complained)


def category(campaign: Campaign) -> str | None:
    """A campaign's preference category: its content's ``category`` (the same for every variant)."""
    value = campaign.variants[0]["content"].get("category") if campaign.variants else None
    return value if isinstance(value, str) and value else None


def reachable(session: Session, campaign: Campaign, users: dict[uuid.UUID, Recipient]) -> Reachable:
    channel = campaign.channel
    allowed = None
    if channel in PREFERENCE_CHANNELS:
        allowed = allowed_users(session, users, channel, category(campaign))
    blocked: set[uuid.UUID] = set()
    if channel == "email":
        emails = [u.email for u in users.values() if u.email]
        dead = suppressed_emails(session, emails)
        blocked = {uid for uid, u in users.items() if u.email and u.email.lower() in dead}
    return Reachable(_addresses(session, channel, users), allowed, blocked)


def _addresses(
    session: Session, channel: str, users: dict[uuid.UUID, Recipient]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    if channel == "email":
        return {uid: [{"email": u.email}] for uid, u in users.items() if u.email}
    if channel == "push":
        found: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        devices = session.scalars(
            select(Device).where(Device.user_id.in_(list(users)), Device.enabled.is_(True))
        )
        for d in devices:
            address: dict[str, Any] = {"platform": d.platform, "token": d.token, "device_id": str(d.id)}
            if d.platform == "apns":
                address["apns_environment"] = d.apns_environment
            elif d.platform == "webpush":  # the subscription's keys encrypt the payload
                address |= {"p256dh": d.webpush_p256dh, "auth": d.webpush_auth}
            found[d.user_id].append(address)
        return found
    return {uid: [{}] for uid in users}  # in_app and webhook need no address
