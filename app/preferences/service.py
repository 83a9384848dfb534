"""Reading preferences, and the dispatch-time question: who may receive this?"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select
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
    session: Session, user_ids: Sequence[uuid.UUID], channel: str, category: str | None
) -> set[uuid.UUID]:
    """Which of ``user_ids`` may receive a ``channel`` message of ``category``: one query,
    for the dispatcher to call once per chunk."""
    if not user_ids:
        return set()
    statement = select(User.id).where(User.id.in_(user_ids), _STATUS[channel] == "subscribed")
    if category:
        opted_out = and_(
            Preference.user_id == User.id,
            Preference.channel == channel,
            Preference.category == category,
            Preference.subscribed.is_(False),
        )
        statement = statement.where(~select(Preference.id).where(opted_out).exists())
    return set(session.scalars(statement))
