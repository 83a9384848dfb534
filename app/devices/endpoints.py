from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from app.auth.dependencies import AnyKey, SecretKey
from app.devices import service
from app.devices.schemas import DeviceIn, DeviceOut, DeviceRef
from app.idempotency.dependencies import Idempotent
from app.kit.session import DbSession
from app.users.endpoints import ExternalIdPath
from app.users.service import get as get_user

router = APIRouter(tags=["devices"])


@router.post(
    "/v1/users/{external_id}/devices",
    response_model=DeviceOut,
    dependencies=[Idempotent],
    summary="Register a push device (FCM, APNs or Web Push) for a user",
)
def register_device(
    external_id: ExternalIdPath, body: DeviceIn, session: DbSession, _auth: AnyKey
) -> DeviceOut:
    return DeviceOut.model_validate(service.register(session, external_id, body))


@router.get("/v1/users/{external_id}/devices", response_model=list[DeviceOut], summary="A user's devices")
def list_devices(external_id: ExternalIdPath, session: DbSession, _auth: SecretKey) -> list[DeviceOut]:
    user = get_user(session, external_id)
    return [DeviceOut.model_validate(d) for d in service.list_for_user(session, user.id)]


@router.delete("/v1/devices/{device_id}", status_code=204, summary="Remove a device")
def delete_device(device_id: uuid.UUID, session: DbSession, _auth: SecretKey) -> Response:
    service.remove(session, device_id)
    return Response(status_code=204)


@router.post("/v1/devices/unregister", status_code=204, summary="Remove a device by its token (SDK logout)")
def unregister_device(body: DeviceRef, session: DbSession, _auth: AnyKey) -> Response:
    service.unregister(session, body.platform, body.token)
    return Response(status_code=204)
