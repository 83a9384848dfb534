"""Who is asking: the signed-in operator (from the session cookie) and, on workspace pages,
their membership. Resolving a workspace scopes the request's database session to it with
``scope_to_workspace``, exactly as API-key authentication does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request

from app.dashboard.csrf import SESSION_COOKIE
from app.kit.db import scope_to_operator, scope_to_workspace
from app.kit.errors import Forbidden, NotFound
from app.kit.session import DbSession
from app.models import Operator, Role, Workspace
from app.operators import memberships, sessions
from app.operators.permissions import GRANTS, Permission, can


class SignInRequired(Exception):
    """Raised by a page that needs an operator; the dashboard answers with the sign-in page."""


@dataclass
class Viewer:
    operator: Operator
    session_id: uuid.UUID

    @property
    def label(self) -> str:
        return self.operator.name or self.operator.email


@dataclass
class WorkspacePage:
    """A page inside one workspace: who, where, with which role, and where else they may go."""

    viewer: Viewer
    workspace: Workspace
    role: Role
    workspaces: list[tuple[Workspace, Role]] = field(default_factory=list)

    def can(self, permission: Permission | str) -> bool:
        return can(self.role, Permission(permission))

    @property
    def role_permissions(self) -> frozenset[Permission]:
        return GRANTS[self.role]


def optional_viewer(request: Request, session: DbSession) -> Viewer | None:
    token = request.cookies.get(SESSION_COOKIE)
    found = sessions.find(session, token) if token else None
    if found is None:
        return None
    signed_in, operator = found
    scope_to_operator(session, operator.id)
    viewer = Viewer(operator=operator, session_id=signed_in.id)
    request.state.viewer = viewer
    request.state.operator_session = signed_in
    return viewer


def require_viewer(viewer: Annotated[Viewer | None, Depends(optional_viewer)]) -> Viewer:
    if viewer is None:
        raise SignInRequired
    return viewer


def workspace_page(
    request: Request,
    session: DbSession,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    workspace_id: Annotated[uuid.UUID, Path()],
) -> WorkspacePage:
    membership = memberships.find(session, workspace_id=workspace_id, operator_id=viewer.operator.id)
    if membership is None:
        # Not "forbidden": whether a workspace exists is not the business of non-members.
        raise NotFound("no such workspace", field="workspace_id")
    scope_to_workspace(session, workspace_id)
    request.state.workspace_id = workspace_id
    sessions.remember_workspace(request.state.operator_session, workspace_id)
    page = WorkspacePage(
        viewer=viewer,
        workspace=session.get_one(Workspace, workspace_id),
        role=Role(membership.role),
        workspaces=memberships.workspaces_of(session, viewer.operator.id),
    )
    request.state.page = page
    return page


def requires(permission: Permission):  # type: ignore[no-untyped-def]
    """A dependency: the workspace page, if the operator's role grants ``permission``."""

    def check(page: Annotated[WorkspacePage, Depends(workspace_page)]) -> WorkspacePage:
        if not page.can(permission):
            raise Forbidden(f"your role ({page.role}) cannot do this here", field="role")
        return page

    return check


SignedIn = Annotated[Viewer, Depends(require_viewer)]
MaybeSignedIn = Annotated[Viewer | None, Depends(optional_viewer)]
Page = Annotated[WorkspacePage, Depends(workspace_page)]
UsersReader = Annotated[WorkspacePage, Depends(requires(Permission.read_users))]
KeysAdmin = Annotated[WorkspacePage, Depends(requires(Permission.manage_keys))]
SettingsAdmin = Annotated[WorkspacePage, Depends(requires(Permission.manage_settings))]
MembersAdmin = Annotated[WorkspacePage, Depends(requires(Permission.manage_members))]
