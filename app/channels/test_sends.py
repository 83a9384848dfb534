"""Test sends: render a content for given users (or raw addresses) and send it at once
through the workspace's real providers, outside any campaign and its ledger. Called by the
API and by the dashboard's campaign page."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.channels.base import OutboundMessage
from app.channels.factory import build_channels
from app.kit.db import Database
from app.kit.errors import Invalid
from app.kit.settings import Settings
from app.kit.validators import Email, ExternalId
from app.models import Device, User
from app.templating.compiler import RenderFailed
from app.templating.content import compile_content
from app.templating.context import load_facts, render_context
from app.workspaces.service import get as get_workspace


class TestSend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "push", "in_app", "webhook"]
    content: dict[str, Any]
    external_ids: list[ExternalId] = Field(default_factory=list, max_length=20)
    emails: list[Email] = Field(default_factory=list, max_length=20, description="Email only: raw addresses")


class TestSendResult(BaseModel):
    delivery_id: uuid.UUID
    target: str
    outcome: str
    error: str | None


async def send_test(
    session: Session, body: TestSend, *, workspace_id: uuid.UUID, settings: Settings, database: Database
) -> list[TestSendResult]:
    compiled = compile_content(body.content)
    users = list(session.scalars(select(User).where(User.external_id.in_(body.external_ids))))
    missing = set(body.external_ids) - {u.external_id for u in users}
    if missing:
        raise Invalid(f"no user with external_id {sorted(missing)[0]!r}", field="external_ids")
    if body.emails and body.channel != "email":
        raise Invalid("raw addresses are for email test sends only", field="emails")
    facts = load_facts(session, [u.id for u in users], compiled.needs)
    zone = get_workspace(session, workspace_id).timezone
    messages: list[tuple[str, OutboundMessage]] = []
    for user in users:
        try:
            content = compiled.render(render_context(user, facts=facts.get(user.id), workspace_zone=zone))
        except RenderFailed as exc:
            raise Invalid(f"cannot render for {user.external_id!r}: {exc}", field="content") from None
        for target, address in _addresses(session, body.channel, user):
            messages.append((target, _message(workspace_id, user.id, body.channel, address, content)))
    if body.emails:
        try:  # raw addresses belong to no user: templates see an empty profile
            anonymous = compiled.render(render_context(None, workspace_zone=zone))
        except RenderFailed as exc:
            raise Invalid(f"cannot render: {exc}", field="content") from None
        for email in body.emails:
            address = {"email": email}
            messages.append((email, _message(workspace_id, uuid.uuid4(), body.channel, address, anonymous)))
    channels = build_channels(session, settings=settings, database=database)
    channel = channels.get(body.channel)
    if channel is None:
        raise Invalid(f"no {body.channel} provider is configured", field="channel")
    try:
        results = await channel.send([m for _, m in messages])
    finally:
        await channels.aclose()
    return [
        TestSendResult(delivery_id=r.delivery_id, target=t, outcome=r.outcome, error=r.error)
        for (t, _), r in zip(messages, results, strict=True)
    ]


def _message(
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    channel: str,
    address: dict[str, Any],
    content: dict[str, Any],
) -> OutboundMessage:
    return OutboundMessage(uuid.uuid4(), workspace_id, user_id, channel, address, content)


def _addresses(session: Session, channel: str, user: User) -> list[tuple[str, dict[str, Any]]]:
    if channel == "email":
        if not user.email:
            raise Invalid(f"user {user.external_id!r} has no email", field="external_ids")
        return [(user.email, {"email": user.email})]
    if channel == "push":
        devices = session.scalars(select(Device).where(Device.user_id == user.id, Device.enabled.is_(True)))
        return [(f"{d.platform}:{d.id}", push_address(d)) for d in devices]
    return [(user.external_id, {})]


def push_address(device: Device) -> dict[str, Any]:
    """The ``address`` of a push message for one device (the dispatcher builds the same)."""
    address: dict[str, Any] = {
        "platform": device.platform,
        "token": device.token,
        "device_id": str(device.id),
    }
    if device.platform == "apns":
        address["apns_environment"] = device.apns_environment or "production"
    if device.platform == "webpush":
        address.update(p256dh=device.webpush_p256dh, auth=device.webpush_auth)
    return address
