"""Push addresses. A token is unique per workspace and platform: registering it again for
another user moves it there (a shared phone, a re-login)."""

from __future__ import annotations

import uuid

from pydantic import HttpUrl, TypeAdapter, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.devices.schemas import ApnsDevice, DeviceIn, FcmDevice, WebPushDevice
from app.kit import sql
from app.kit.db import current_workspace
from app.kit.errors import NotFound
from app.kit.ids import uuid7
from app.models import Device
from app.models.base import utcnow
from app.users.seen import ensure_users

_url: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def canonical_token(platform: str, token: str) -> str:
    """The form a token is stored in, so that registering and unregistering agree: APNs tokens
    in lower-case hex, Web Push endpoints as normalised URLs (host case, default port, path)."""
    if platform == "apns":
        return token.lower()
    if platform == "webpush":
        try:
            return str(_url.validate_python(token))
        except ValidationError:
            return token
    return token


def register(session: Session, external_id: str, device: DeviceIn) -> Device:
    now = utcnow()
    user_id = ensure_users(session, {external_id: (now, now)})[external_id]
    values = {
        "workspace_id": current_workspace(session),
        "id": uuid7(),
        "user_id": user_id,
        "platform": device.platform,
        "app_version": device.app_version,
        "enabled": True,
        "disabled_reason": None,
        "last_seen_at": now,
        "created_at": now,
        "updated_at": now,
        "apns_environment": None,
        "webpush_p256dh": None,
        "webpush_auth": None,
    }
    match device:
        case FcmDevice():
            values["token"] = device.token
        case ApnsDevice():
            values["token"] = canonical_token("apns", device.token)
            values["apns_environment"] = device.environment
        case WebPushDevice():
            values["token"] = canonical_token("webpush", str(device.subscription.endpoint))
            values["webpush_p256dh"] = device.subscription.keys.p256dh
            values["webpush_auth"] = device.subscription.keys.auth
    stmt = sql.insert(session, Device).values(values)
    moved = {
        k: v for k, v in values.items() if k not in ("workspace_id", "id", "created_at", "platform", "token")
    }
    stmt = stmt.on_conflict_do_update(index_elements=["workspace_id", "platform", "token"], set_=moved)
    device_id = session.execute(stmt.returning(Device.id)).scalar_one()
    session.flush()
    return session.scalars(
        select(Device).where(Device.id == device_id).execution_options(populate_existing=True)
    ).one()


def list_for_user(session: Session, user_id: uuid.UUID) -> list[Device]:
    return list(session.scalars(select(Device).where(Device.user_id == user_id).order_by(Device.created_at)))


def remove(session: Session, device_id: uuid.UUID) -> None:
    if session.execute(delete(Device).where(Device.id == device_id)).rowcount == 0:
        raise NotFound("no such device", field="device_id")


def unregister(session: Session, platform: str, token: str) -> None:
    stmt = delete(Device).where(Device.platform == platform, Device.token == canonical_token(platform, token))
    if session.execute(stmt).rowcount == 0:
        raise NotFound("no device with this token", field="token")
