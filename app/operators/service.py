"""Operator accounts: create, find, check a password, change it."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.kit.errors import Conflict, NotFound
from app.models import Operator, OperatorSession, Workspace
from app.models.base import utcnow
from app.operators import memberships, passwords
from app.workspaces.service import new_workspace


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_by_email(session: Session, email: str) -> Operator | None:
    return session.scalars(select(Operator).where(Operator.email == normalise_email(email))).first()


def get(session: Session, operator_id: uuid.UUID) -> Operator:
    operator = session.get(Operator, operator_id)
    if operator is None:
        raise NotFound("no such operator", field="operator_id")
    return operator


def create(session: Session, *, email: str, password: str, name: str = "") -> Operator:
    if find_by_email(session, email) is not None:
        raise Conflict("an account with this email already exists", field="email")
    operator = Operator(
        email=normalise_email(email), name=name.strip(), password_hash=passwords.hash_password(password)
    )
    try:
        with session.begin_nested():  # a concurrent sign-up with the same email loses cleanly
            session.add(operator)
    except IntegrityError:
        raise Conflict("an account with this email already exists", field="email") from None
    return operator


def sign_up(
    session: Session, *, email: str, password: str, name: str, workspace_name: str, timezone: str
) -> tuple[Operator, Workspace]:
    """A new operator owning a new, empty workspace (keys are created on the keys page)."""
    operator = create(session, email=email, password=password, name=name)
    workspace = new_workspace(session, name=workspace_name, timezone=timezone)
    memberships.add(session, workspace_id=workspace.id, operator_id=operator.id, role="owner")
    return operator, workspace


def authenticate(session: Session, email: str, password: str) -> Operator | None:
    operator = find_by_email(session, email)
    if not passwords.verify(operator.password_hash if operator else None, password) or operator is None:
        return None
    if passwords.needs_rehash(operator.password_hash):
        operator.password_hash = passwords.hash_password(password)
    operator.last_login_at = utcnow()
    session.flush()
    return operator


def set_password(session: Session, operator: Operator, password: str) -> None:
    """Change the password and sign the operator out everywhere."""
    operator.password_hash = passwords.hash_password(password)
    operator.updated_at = utcnow()
    session.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator.id))
    session.flush()
