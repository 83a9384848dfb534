"""Building a workspace's channels from its stored credentials.

The dispatcher builds one ``WorkspaceChannels`` per workspace and keeps it for the worker's
lifetime (connections are pooled inside each channel), and closes it at shutdown. With no
credentials for email or push, embedded mode (SQLite) uses the sandbox providers: email to
``.eml`` files in the outbox folder, push to a JSON-lines log beside it.

A provider whose credentials cannot be used (they do not decrypt, a field is missing, a key
does not parse) becomes an ``UnavailableChannel``: its deliveries carry the reason and fail
after the bounded retries, while the workspace's other channels work as usual."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.channels.base import Channel
from app.channels.email.message import Sender
from app.channels.email.outbox import OutboxChannel
from app.channels.email.smtp import SmtpChannel, SmtpConfig
from app.channels.push.apns import ApnsChannel, ApnsConfig
from app.channels.push.fcm import FcmChannel
from app.channels.push.router import PushChannel
from app.channels.push.sandbox import PushLogChannel
from app.channels.push.webpush import WebPushChannel, WebPushConfig
from app.channels.unavailable import built, unavailable
from app.channels.webhook import WebhookChannel, WebhookConfig
from app.credentials.crypto import CredentialBox
from app.credentials.service import load_all
from app.inbox.channel import InboxChannel
from app.inbox.live import Hub
from app.kit.db import Database
from app.kit.settings import Settings
from app.tracking.links import TrackingLinks

SANDBOX_SENDER = Sender("nudge@localhost", "Nudge (sandbox)")


@dataclass
class WorkspaceChannels:
    channels: dict[str, Channel] = field(default_factory=dict)

    def get(self, name: str) -> Channel | None:
        return self.channels.get(name)

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()


def build_channels(
    session: Session,
    *,
    settings: Settings,
    database: Database,
    hub: Hub | None = None,
    links: TrackingLinks | None = None,
) -> WorkspaceChannels:
    """Channels for the workspace ``session`` is scoped to."""
    unreadable: dict[str, str] = {}
    credentials = load_all(session, CredentialBox(settings), unreadable=unreadable)
    links = links or TrackingLinks(settings)
    sandbox = settings.is_sqlite
    channels: dict[str, Channel] = {"in_app": InboxChannel(database, hub)}
    email = _email(credentials, unreadable, links, settings, sandbox=sandbox)
    if email is not None:
        channels["email"] = email
    push = _push(credentials, unreadable, settings, sandbox=sandbox)
    if push is not None:
        channels["push"] = push
    if "webhook" in unreadable:
        channels["webhook"] = unavailable("webhook", unreadable["webhook"])
    elif "webhook" in credentials:
        allow_private = settings.webhook_allow_private_targets
        channels["webhook"] = built(
            "webhook",
            lambda: WebhookChannel(
                WebhookConfig.from_credentials(credentials["webhook"]), allow_private=allow_private
            ),
        )
    return WorkspaceChannels(channels)


def _email(
    credentials: dict[str, Any],
    unreadable: dict[str, str],
    links: TrackingLinks,
    settings: Settings,
    *,
    sandbox: bool,
) -> Channel | None:
    if "smtp" in unreadable:
        return unavailable("smtp", unreadable["smtp"])
    if "smtp" in credentials:
        return built(
            "smtp", lambda: SmtpChannel(SmtpConfig.from_credentials(credentials["smtp"]), links=links)
        )
    if sandbox:
        return OutboxChannel(settings.outbox_dir, SANDBOX_SENDER, links=links)
    return None


def _push(
    credentials: dict[str, Any], unreadable: dict[str, str], settings: Settings, *, sandbox: bool
) -> Channel | None:
    builders: dict[str, Callable[[dict[str, Any]], Channel]] = {
        "fcm": lambda values: FcmChannel(values["service_account"]),
        "apns": lambda values: ApnsChannel(ApnsConfig.from_credentials(values)),
        "webpush": lambda values: WebPushChannel(WebPushConfig.from_credentials(values)),
    }
    providers: dict[str, Channel] = {}
    for platform, build in builders.items():
        if platform in unreadable:
            providers[platform] = unavailable(platform, unreadable[platform])
        elif platform in credentials:
            values = credentials[platform]
            providers[platform] = built(platform, lambda build=build, values=values: build(values))
    if sandbox:
        log = PushLogChannel(settings.outbox_dir / "push.log")
        for platform in ("fcm", "apns", "webpush"):
            providers.setdefault(platform, log)
    return PushChannel(providers) if providers else None
