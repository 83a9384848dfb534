from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from app.auth.service import create_key
from app.kit.db import scope_to_workspace
from app.kit.errors import NotFound
from app.models import KeyKind, Workspace


def create(session: Session, *, name: str, timezone: str = "UTC") -> tuple[Workspace, dict[KeyKind, str]]:
    """A new workspace with one secret and one publishable key (plaintexts returned once)."""
    workspace = new_workspace(session, name=name, timezone=timezone)
    keys = {
        kind: create_key(session, workspace_id=workspace.id, kind=kind, name="default")[1] for kind in KeyKind
    }
    return workspace, keys


def new_workspace(session: Session, *, name: str, timezone: str = "UTC") -> Workspace:
    """A workspace without keys; the session is scoped to it from here on."""
    workspace = Workspace(name=name, timezone=timezone)
    session.add(workspace)
    session.flush()
    scope_to_workspace(session, workspace.id)
    return workspace


def get(session: Session, workspace_id: uuid.UUID) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound("no such workspace", field="workspace_id")
    return workspace
