"""Invitations to a workspace. The link is ``/dashboard/invite/{workspace_id}/{token}``:
the workspace id scopes the lookup (ORM filter and RLS), the token is kept as a hash."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.kit.db import current_workspace
from app.kit.errors import Conflict, Forbidden, NotFound
from app.models import Invitation, Operator, Role
from app.models.base import utcnow
from app.operators import memberships
from app.operators.permissions import grantable_roles
from app.operators.service import normalise_email
from app.operators.tokens import digest, new_token

LIFETIME = timedelta(days=7)


def invite(
    session: Session, *, email: str, role: Role, inviter: Operator, inviter_role: Role
) -> tuple[Invitation, str]:
    """A new invitation in the session's workspace; returns it and its token (shown once)."""
    if role not in grantable_roles(inviter_role):
        raise Forbidden(f"your role cannot invite a {role}", field="role")
    workspace_id = current_workspace(session)
    email = normalise_email(email)
    already = session.scalars(select(Operator.id).where(Operator.email == email)).first()
    if already is not None and memberships.find(session, workspace_id=workspace_id, operator_id=already):
        raise Conflict("this person is already a member", field="email")
    token = new_token()
    invitation = Invitation(
        workspace_id=workspace_id,
        email=email,
        role=role,
        token_hash=digest(token),
        invited_by=inviter.id,
        expires_at=utcnow() + LIFETIME,
    )
    session.add(invitation)
    session.flush()
    return invitation, token


def pending(session: Session) -> list[Invitation]:
    now = utcnow()
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None), Invitation.expires_at > now
            )
            .order_by(Invitation.created_at)
        )
    )


def find_open(session: Session, token: str) -> Invitation | None:
    """The usable invitation for ``token`` in the session's workspace, or None."""
    invitation = session.scalars(select(Invitation).where(Invitation.token_hash == digest(token))).first()
    if (
        invitation is None
        or invitation.accepted_at
        or invitation.revoked_at
        or invitation.expires_at <= utcnow()
    ):
        return None
    return invitation


def accept(session: Session, invitation: Invitation, operator: Operator) -> None:
    if operator.email != invitation.email:
        raise Forbidden(
            f"this invitation is for {invitation.email}; sign in with that address", field="email"
        )
    memberships.add(
        session, workspace_id=invitation.workspace_id, operator_id=operator.id, role=invitation.role
    )
    invitation.accepted_at = utcnow()
    session.flush()


def revoke(session: Session, invitation_id: uuid.UUID) -> None:
    invitation = session.scalars(select(Invitation).where(Invitation.id == invitation_id)).first()
    if invitation is None:
        raise NotFound("no such invitation", field="invitation_id")
    invitation.revoked_at = invitation.revoked_at or utcnow()
    session.flush()
