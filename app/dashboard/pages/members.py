"""Members and invitations. Invitation links are shown once to the inviter (no email is
needed on a self-hosted install); accepting one lives in pages/invitations.py."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.dashboard.forms import Form, FormErrors, field_error, parse
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import Invite, RoleChange
from app.dashboard.templating import render
from app.dashboard.viewer import MembersAdmin, Page, WorkspacePage
from app.kit.errors import NudgeError
from app.kit.session import DbSession
from app.operators import invitations, memberships
from app.operators.permissions import ROLE_SUMMARIES, grantable_roles

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)


def _members_page(
    request: Request, session: Session, page: WorkspacePage, status: int = 200, **extra: Any
) -> Response:
    return render(
        request,
        "workspaces/members.html",
        status,
        members=memberships.members_of(session, page.workspace.id),
        invitations=invitations.pending(session),
        grantable=grantable_roles(page.role),
        summaries=ROLE_SUMMARIES,
        **{"errors": {}, "values": {}, **extra},
    )


@router.get("/members", name="dashboard.members")
def members_page(request: Request, session: DbSession, page: Page) -> Response:
    return _members_page(request, session, page)


@router.post("/members/invite", name="dashboard.members_invite")
def invite(request: Request, session: DbSession, page: MembersAdmin, form: Form) -> Response:
    try:
        data = parse(Invite, form)
        invitation, token = invitations.invite(
            session, email=data.email, role=data.role, inviter=page.viewer.operator, inviter_role=page.role
        )
    except FormErrors as exc:
        return _members_page(request, session, page, 422, errors=exc.errors, values=dict(form))
    except NudgeError as exc:
        return _members_page(
            request, session, page, exc.status, errors=field_error(exc).errors, values=dict(form)
        )
    base = str(request.app.state.settings.public_base_url).rstrip("/")
    link = f"{base}/dashboard/invite/{page.workspace.id}/{token}"
    return _members_page(request, session, page, 201, invitation=invitation, invite_link=link)


@router.post("/members/{operator_id}/role", name="dashboard.members_role")
def change_role(
    request: Request, session: DbSession, page: MembersAdmin, operator_id: uuid.UUID, form: Form
) -> Response:
    try:
        data = parse(RoleChange, form)
    except FormErrors as exc:
        return _members_page(request, session, page, 422, errors=exc.errors)
    memberships.change_role(
        session, workspace_id=page.workspace.id, operator_id=operator_id, role=data.role, actor_role=page.role
    )
    return redirect(request, f"/dashboard/w/{page.workspace.id}/members?notice=role-changed")


@router.post("/members/{operator_id}/remove", name="dashboard.members_remove")
def remove(request: Request, session: DbSession, page: MembersAdmin, operator_id: uuid.UUID) -> Response:
    memberships.remove(session, workspace_id=page.workspace.id, operator_id=operator_id, actor_role=page.role)
    return redirect(request, f"/dashboard/w/{page.workspace.id}/members?notice=member-removed")


@router.post("/invitations/{invitation_id}/revoke", name="dashboard.invitations_revoke")
def revoke_invitation(
    request: Request, session: DbSession, page: MembersAdmin, invitation_id: uuid.UUID
) -> Response:
    invitations.revoke(session, invitation_id)
    return redirect(request, f"/dashboard/w/{page.workspace.id}/members?notice=invitation-revoked")
