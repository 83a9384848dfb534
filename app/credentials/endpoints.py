from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from app.auth.dependencies import SecretKey
from app.channels.webhook import TargetRefused, vet_at_save
from app.credentials import service
from app.credentials.crypto import CredentialBox
from app.credentials.schemas import MODELS
from app.kit.error_handlers import field_path
from app.kit.errors import Invalid, NotFound
from app.kit.session import DbSession

router = APIRouter(prefix="/v1/providers", tags=["providers"])

ProviderName = Annotated[str, Path(description="smtp, fcm, apns, webpush or webhook")]


def credential_box(request: Request) -> CredentialBox:
    box = getattr(request.app.state, "credential_box", None)
    if box is None:
        box = request.app.state.credential_box = CredentialBox(request.app.state.settings)
    return box


def _model(provider: str) -> Any:
    model = MODELS.get(provider)
    if model is None:
        raise NotFound(f"unknown provider {provider!r}", field="provider")
    return model


@router.get("", summary="Configured providers, secrets masked")
def list_providers(session: DbSession, _auth: SecretKey) -> dict[str, dict[str, Any]]:
    return service.masked_all(session)


@router.get("/{provider}", summary="One provider's settings, secrets masked")
def get_provider(provider: ProviderName, session: DbSession, _auth: SecretKey) -> dict[str, Any]:
    _model(provider)
    masked = service.masked_all(session).get(provider)
    if masked is None:
        raise NotFound(f"no {provider} credentials are set", field="provider")
    return masked


@router.put(
    "/{provider}",
    summary="Set a provider's credentials (replaces them); answers with secrets masked",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def set_provider(
    provider: ProviderName, request: Request, session: DbSession, _auth: SecretKey
) -> dict[str, Any]:
    model = _model(provider)
    try:
        values = model.model_validate_json(await request.body())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"]) if first["loc"] else "body"
        raise Invalid(f"{where}: {first['msg']}", field=where) from None
    if provider == "webhook":
        allow_private = request.app.state.settings.webhook_allow_private_targets
        try:
            await vet_at_save(str(values.url), allow_private=allow_private)
        except TargetRefused as exc:
            raise Invalid(f"url: {exc}", field="url") from None
    # The body is read on the event loop; the statements run in a worker thread.
    return await anyio.to_thread.run_sync(service.save, session, credential_box(request), provider, values)


@router.delete("/{provider}", status_code=204, summary="Remove a provider's credentials")
def delete_provider(provider: ProviderName, session: DbSession, _auth: SecretKey) -> Response:
    _model(provider)
    service.remove(session, provider)
    return Response(status_code=204)
