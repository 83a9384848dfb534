"""The ``push`` channel: one chunk may hold FCM, APNs and Web Push devices; each message goes
to the provider its address names, all providers at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from app.channels.base import Channel, OutboundMessage, Outcome, SendResult


class PushChannel:
    name = "push"

    def __init__(self, providers: dict[str, Channel]) -> None:
        self.providers = providers  # platform ("fcm", "apns", "webpush") -> channel

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        groups: dict[str, list[OutboundMessage]] = {}
        results: dict[object, SendResult] = {}
        for message in messages:
            platform = str(message.address.get("platform", ""))
            if platform in self.providers:
                groups.setdefault(platform, []).append(message)
            else:
                error = f"no {platform or 'push'} provider is configured for this workspace"
                results[message.delivery_id] = SendResult(message.delivery_id, Outcome.failed, error=error)
        sent = await asyncio.gather(*(self.providers[p].send(group) for p, group in groups.items()))
        for batch in sent:
            results.update((r.delivery_id, r) for r in batch)
        return [results[m.delivery_id] for m in messages]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
