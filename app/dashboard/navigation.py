"""The sidebar. Each feature adds its entry here; the layout draws the list, marks the
current section and hides entries the operator's role cannot open.

Later features slot in by appending a ``NavItem`` and registering a route of that name
that takes ``workspace_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.operators.permissions import Permission


@dataclass(frozen=True)
class NavItem:
    label: str
    route: str  # route name; called with workspace_id
    icon: str  # symbol id in static/icons.svg
    section: str  # groups entries under a heading; also marks the active entry
    permission: Permission = Permission.view


SECTIONS = {"home": "", "audience": "Audience", "messaging": "Messaging", "workspace": "Workspace"}

NAVIGATION: list[NavItem] = [
    NavItem("Overview", "dashboard.overview", "home", "home"),
    NavItem("Users", "dashboard.users", "users", "audience", Permission.read_users),
    NavItem("Segments", "dashboard.segments", "segments", "audience", Permission.read_users),
    NavItem("Campaigns", "dashboard.campaigns", "campaigns", "messaging"),
    NavItem("Journeys", "dashboard.journeys", "activity", "messaging"),
    NavItem("Content", "dashboard.variables", "settings", "messaging"),
    NavItem("Outbox", "dashboard.outbox", "mail", "messaging", Permission.read_users),
    NavItem("API keys", "dashboard.keys", "key", "workspace"),
    NavItem("Members", "dashboard.members", "team", "workspace"),
    NavItem("Settings", "dashboard.settings", "settings", "workspace"),
]


def sections() -> list[tuple[str, list[NavItem]]]:
    """Entries grouped under their headings, in ``SECTIONS`` order."""
    return [
        (heading, [item for item in NAVIGATION if item.section == key]) for key, heading in SECTIONS.items()
    ]
