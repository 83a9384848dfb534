"""What each role may do in a workspace. The server checks these on every action; templates
only use them to hide controls a role could not use anyway."""

from __future__ import annotations

from enum import StrEnum

from app.models import Role


class Permission(StrEnum):
    view = "view"  # the workspace's pages, campaigns and reports
    read_users = "read_users"  # user profiles: personal data
    edit_messaging = "edit_messaging"  # segments, campaigns, content; test sends
    launch = "launch"  # launch, pause, resume, cancel campaigns
    manage_keys = "manage_keys"
    manage_settings = "manage_settings"
    manage_members = "manage_members"


_ALL = frozenset(Permission)
_MARKETER = frozenset({Permission.view, Permission.read_users, Permission.edit_messaging, Permission.launch})

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.owner: _ALL,
    Role.admin: _ALL,
    Role.marketer: _MARKETER,
    Role.analyst: frozenset({Permission.view, Permission.read_users}),
    Role.viewer: frozenset({Permission.view}),
}

ROLE_SUMMARIES: dict[Role, str] = {
    Role.owner: "Everything, including granting ownership.",
    Role.admin: "Everything except granting ownership: keys, settings, members.",
    Role.marketer: "Builds segments and campaigns, launches them, sees users.",
    Role.analyst: "Reads reports, segments and user profiles; changes nothing.",
    Role.viewer: "Reads campaigns and reports, without personal data.",
}


def can(role: Role | str, permission: Permission) -> bool:
    return permission in GRANTS[Role(role)]


def grantable_roles(role: Role | str) -> list[Role]:
    """Roles ``role`` may hand out: owners any, admins any but owner, others none."""
    if Role(role) is Role.owner:
        return list(Role)
    if can(role, Permission.manage_members):
        return [r for r in Role if r is not Role.owner]
    return []
