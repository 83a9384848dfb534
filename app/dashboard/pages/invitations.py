"""Accepting an invitation: signed in with the invited address, one click; otherwise sign in,
or create the account right here (even when public sign-up is closed: the invitation is the
permission)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.dashboard.forms import Form, FormErrors, field_error, parse
from app.dashboard.pages.accounts import start_session
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import NewPassword
from app.dashboard.templating import render
from app.dashboard.viewer import MaybeSignedIn
from app.kit.db import scope_to_workspace
from app.kit.errors import NotFound, NudgeError
from app.kit.session import DbSession
from app.models import Invitation, Workspace
from app.operators import invitations, service

router = APIRouter(prefix="/dashboard/invite", route_class=DashboardRoute, include_in_schema=False)


def _open_invitation(session: Session, workspace_id: uuid.UUID, token: str) -> tuple[Invitation, Workspace]:
    # The lookup runs inside the named workspace; only the token's hash can match there.
    scope_to_workspace(session, workspace_id)
    workspace = session.get(Workspace, workspace_id)
    invitation = invitations.find_open(session, token) if workspace else None
    if workspace is None or invitation is None:
        raise NotFound("this invitation is invalid, used, revoked or expired; ask for a new one")
    return invitation, workspace


@router.get("/{workspace_id}/{token}", name="dashboard.invitation")
def invitation_page(
    request: Request, session: DbSession, viewer: MaybeSignedIn, workspace_id: uuid.UUID, token: str
) -> Response:
    invitation, workspace = _open_invitation(session, workspace_id, token)
    has_account = service.find_by_email(session, invitation.email) is not None
    return render(
        request,
        "accounts/invitation.html",
        invitation=invitation,
        workspace=workspace,
        has_account=has_account,
        errors={},
        values={},
    )


@router.post("/{workspace_id}/{token}", name="dashboard.invitation_accept")
def accept(
    request: Request,
    session: DbSession,
    viewer: MaybeSignedIn,
    workspace_id: uuid.UUID,
    token: str,
    form: Form,
) -> Response:
    invitation, workspace = _open_invitation(session, workspace_id, token)
    target = f"/dashboard/w/{workspace.id}/?notice=joined"
    if viewer is not None:
        invitations.accept(session, invitation, viewer.operator)
        return redirect(request, target)
    try:
        data = parse(NewPassword, form)
        operator = service.create(
            session, email=invitation.email, password=data.password, name=str(form.get("name") or "")[:200]
        )
        invitations.accept(session, invitation, operator)
    except (FormErrors, NudgeError) as exc:
        errors = exc.errors if isinstance(exc, FormErrors) else field_error(exc).errors
        status = exc.status if isinstance(exc, NudgeError) else 422
        return render(
            request,
            "accounts/invitation.html",
            status,
            invitation=invitation,
            workspace=workspace,
            has_account=False,
            errors=errors,
            values={"name": form.get("name") or ""},
        )
    return start_session(request, session, operator.id, target)
