from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.auth import service as keys
from app.auth.dependencies import SecretKey
from app.kit.session import DbSession
from app.models.base import utcnow
from app.workspaces import service
from app.workspaces.schemas import KeyCreate, KeyOut, NewKeyOut, WorkspaceOut, WorkspaceUpdate

router = APIRouter(prefix="/v1", tags=["workspace"])


@router.get("/workspace", response_model=WorkspaceOut, summary="The key's workspace")
def get_workspace(session: DbSession, auth: SecretKey) -> WorkspaceOut:
    return WorkspaceOut.model_validate(service.get(session, auth.workspace_id))


@router.patch("/workspace", response_model=WorkspaceOut, summary="Rename or change the default zone")
def update_workspace(body: WorkspaceUpdate, session: DbSession, auth: SecretKey) -> WorkspaceOut:
    workspace = service.get(session, auth.workspace_id)
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(workspace, name, value)
    workspace.updated_at = utcnow()
    session.flush()
    return WorkspaceOut.model_validate(workspace)


@router.get("/keys", response_model=list[KeyOut], summary="API keys (never the keys themselves)")
def list_keys(session: DbSession, _auth: SecretKey) -> list[KeyOut]:
    return [KeyOut.model_validate(k) for k in keys.list_keys(session)]


@router.post(
    "/keys",
    response_model=NewKeyOut,
    status_code=201,
    summary="Create a key",
    # Not idempotent on purpose: replaying the answer would mean keeping the key in plaintext.
    description="The key is in this answer only. `Idempotency-Key` is not honoured here: a replay "
    "would need the key stored, and keys are stored only as their SHA-256.",
)
def create_key(body: KeyCreate, session: DbSession, auth: SecretKey) -> NewKeyOut:
    key, plaintext = keys.create_key(session, workspace_id=auth.workspace_id, kind=body.kind, name=body.name)
    return NewKeyOut(**KeyOut.model_validate(key).model_dump(), key=plaintext)


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke a key (takes effect at once)")
def revoke_key(key_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> KeyOut:
    return KeyOut.model_validate(keys.revoke_key(session, key_id=key_id))
