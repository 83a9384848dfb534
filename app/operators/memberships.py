"""The only module that queries ``memberships``: every read names the workspace or the
operator explicitly (the table is not auto-filtered; see app.models.membership)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.kit.errors import Conflict, Forbidden, NotFound
from app.models import Membership, Operator, Role, Workspace
from app.models.base import utcnow
from app.operators.permissions import grantable_roles


def add(session: Session, *, workspace_id: uuid.UUID, operator_id: uuid.UUID, role: Role | str) -> Membership:
    if find(session, workspace_id=workspace_id, operator_id=operator_id) is not None:
        raise Conflict("already a member of this workspace", field="email")
    membership = Membership(workspace_id=workspace_id, operator_id=operator_id, role=Role(role))
    try:
        with session.begin_nested():  # a double-clicked "Join" loses cleanly
            session.add(membership)
    except IntegrityError:
        raise Conflict("already a member of this workspace", field="email") from None
    return membership


def find(session: Session, *, workspace_id: uuid.UUID, operator_id: uuid.UUID) -> Membership | None:
    return session.get(Membership, (workspace_id, operator_id))


def workspaces_of(session: Session, operator_id: uuid.UUID) -> list[tuple[Workspace, Role]]:
    """The operator's workspaces, by name: what the workspace switcher lists."""
    rows = session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.operator_id == operator_id)
        .order_by(Workspace.name, Workspace.id)
    )
    return [(workspace, Role(role)) for workspace, role in rows]


def members_of(session: Session, workspace_id: uuid.UUID) -> list[tuple[Operator, Membership]]:
    rows = session.execute(
        select(Operator, Membership)
        .join(Membership, Membership.operator_id == Operator.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Operator.email)
    )
    return [(operator, membership) for operator, membership in rows]


def change_role(
    session: Session, *, workspace_id: uuid.UUID, operator_id: uuid.UUID, role: Role, actor_role: Role
) -> Membership:
    membership = _target(session, workspace_id, operator_id, actor_role)
    if role not in grantable_roles(actor_role):
        raise Forbidden(f"your role cannot grant {role}", field="role")
    if membership.role == Role.owner and role is not Role.owner:
        _keep_an_owner(session, workspace_id)
    membership.role = role
    membership.updated_at = utcnow()
    session.flush()
    return membership


def remove(session: Session, *, workspace_id: uuid.UUID, operator_id: uuid.UUID, actor_role: Role) -> None:
    membership = _target(session, workspace_id, operator_id, actor_role)
    if membership.role == Role.owner:
        _keep_an_owner(session, workspace_id)
    session.delete(membership)
    session.flush()


def _target(
    session: Session, workspace_id: uuid.UUID, operator_id: uuid.UUID, actor_role: Role
) -> Membership:
    membership = find(session, workspace_id=workspace_id, operator_id=operator_id)
    if membership is None:
        raise NotFound("no such member", field="operator_id")
    if membership.role == Role.owner and actor_role is not Role.owner:
        raise Forbidden("only an owner can change or remove an owner", field="operator_id")
    return membership


def _keep_an_owner(session: Session, workspace_id: uuid.UUID) -> None:
    # Lock the owners' rows so two concurrent demotions cannot both see "another owner left".
    owners = session.scalars(
        select(Membership.operator_id)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.owner)
        .with_for_update()
    ).all()
    if len(owners) <= 1:
        raise Conflict("a workspace needs at least one owner", field="role")
