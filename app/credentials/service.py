"""Saving and loading provider credentials; decrypted values never leave this module except
to build a channel."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.credentials.crypto import CredentialBox, CredentialsUnreadable
from app.credentials.schemas import mask
from app.kit import sql
from app.kit.db import current_workspace
from app.kit.errors import NotFound
from app.kit.ids import uuid7
from app.models import ProviderCredential
from app.models.base import utcnow


def save(session: Session, box: CredentialBox, provider: str, values: BaseModel) -> dict[str, Any]:
    workspace_id = current_workspace(session)
    plain = values.model_dump(mode="json", exclude_none=True)
    masked = mask(provider, plain)
    now = utcnow()
    row = {
        "workspace_id": workspace_id,
        "id": uuid7(),
        "provider": provider,
        "ciphertext": box.seal(workspace_id, provider, plain),
        "masked": masked,
        "created_at": now,
        "updated_at": now,
    }
    stmt = sql.insert(session, ProviderCredential).values(row)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "provider"],
            set_={"ciphertext": row["ciphertext"], "masked": masked, "updated_at": now},
        )
    )
    return masked


def masked_all(session: Session) -> dict[str, dict[str, Any]]:
    rows = session.execute(select(ProviderCredential.provider, ProviderCredential.masked))
    return {provider: masked for provider, masked in rows}


def load_all(
    session: Session, box: CredentialBox, *, unreadable: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every provider's decrypted values for the session's workspace (to build channels).
    With ``unreadable``, providers that do not decrypt are listed there (with the reason)
    instead of failing the whole call."""
    workspace_id = current_workspace(session)
    rows = session.execute(select(ProviderCredential.provider, ProviderCredential.ciphertext))
    found: dict[str, dict[str, Any]] = {}
    for provider, sealed in rows:
        try:
            found[provider] = box.open(workspace_id, provider, sealed)
        except CredentialsUnreadable as exc:
            if unreadable is None:
                raise
            unreadable[provider] = str(exc)
    return found


def remove(session: Session, provider: str) -> None:
    if (
        session.execute(delete(ProviderCredential).where(ProviderCredential.provider == provider)).rowcount
        == 0
    ):
        raise NotFound(f"no {provider} credentials are set", field="provider")
