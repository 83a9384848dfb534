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
        # Results are matched by position: a user's several devices share one delivery id.
        groups: dict[str, list[int]] = {}
        results: list[SendResult | None] = [None] * len(messages)
        for index, message in enumerate(messages):
            platform = str(message.address.get("platform", ""))
            if platform in self.providers:
                groups.setdefault(platform, []).append(index)
            else:
                error = f"no {platform or 'push'} provider is configured for this workspace"
                results[index] = SendResult(message.delivery_id, Outcome.failed, error=error)
        sent = await asyncio.gather(
            *(self.providers[p].send([messages[i] for i in indexes]) for p, indexes in groups.items())
        )
        for indexes, batch in zip(groups.values(), sent, strict=True):
            for index, result in zip(indexes, batch, strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
