"""Sections other features add to a user's profile, without editing the profile page.

A feature appends a ``ProfilePanel`` to ``PROFILE_PANELS``: a title, a template included in
the profile (it sees ``user`` and ``panel_data``, the dict its loader returned) and a loader
that runs inside the request's workspace-scoped session. The segments feature adds
"Segments" (the user's memberships) and the delivery ledger adds "Messages" (what the user
was sent, with statuses) this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.models import User


@dataclass(frozen=True)
class ProfilePanel:
    title: str
    template: str
    load: Callable[[Session, User], dict[str, Any]]


PROFILE_PANELS: list[ProfilePanel] = []


def load_profile_panels(session: Session, user: User) -> list[tuple[ProfilePanel, dict[str, Any]]]:
    return [(panel, panel.load(session, user)) for panel in PROFILE_PANELS]
