"""Reading preferences, and the dispatch-time question: who may receive this?"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Preference, User

CHANNELS = ("email", "push", "in_app")
_STATUS = {"email": User.email_status, "push": User.push_status, "in_app": User.in_app_status}


@dataclass(frozen=True)
class UserPreferences:
    channels: dict[str, bool]
    categories: dict[str, dict[str, bool]]  # channel -> category -> subscribed


def workspace_categories(session: Session) -> list[str]:
    """Categories anyone in the workspace has a choice for, so the page can offer them all."""
    return list(session.scalars(select(Preference.category).distinct().order_by(Preference.category)))


def for_user(session: Session, user: User) -> UserPreferences:
    rows = session.scalars(select(Preference).where(Preference.user_id == user.id))
    known = workspace_categories(session)
    categories = {channel: dict.fromkeys(known, True) for channel in CHANNELS}
    for row in rows:
        categories.setdefault(row.channel, {})[row.category] = row.subscribed
    channels = {channel: state == "subscribed" for channel, state in user.subscriptions.items()}
    return UserPreferences(channels, categories)


def allowed_users(
    session: Session, users: Mapping[uuid.UUID, Any], channel: str, category: str | None
) -> set[uuid.UUID]:
    """Which of ``users`` (id -> the user's row, or anything carrying its ``<channel>_status``)
    may receive a ``channel`` message of ``category``. The dispatcher's claim already holds the
    rows, so only category opt-outs are read: at most one query per chunk."""
    allowed = {
        user_id for user_id, user in users.items() if getattr(user, _STATUS[channel].key) == "subscribed"
    }
    if not category or not allowed:
        return allowed
    opted_out = session.scalars(
        select(Preference.user_id).where(
            Preference.user_id.in_(allowed),
            Preference.channel == channel,
            Preference.category == category,
            Preference.subscribed.is_(False),
        )
    )
    return allowed - set(opted_out)
