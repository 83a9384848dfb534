"""A provider that could not be built from the workspace's credentials (a missing field, a key
that does not parse, credentials that no longer decrypt with the secret key).

Its messages come back as retries carrying the reason, so the dispatcher's bounded retries
(``dispatch_max_attempts``, with backoff) keep the error visible on each delivery meanwhile
and fail the deliveries with it at the last attempt: a mistake fixed in time loses nothing,
and one left alone cannot retry forever. Other channels of the workspace are unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from app.channels.base import Channel, OutboundMessage, Outcome, SendResult

log = logging.getLogger(__name__)


class UnavailableChannel:
    def __init__(self, name: str, error: str) -> None:
        self.name = name
        self.error = error

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return [SendResult(m.delivery_id, Outcome.retry, error=self.error) for m in messages]

    async def aclose(self) -> None:
        return None


def unavailable(provider: str, reason: str) -> UnavailableChannel:
    error = f"the {provider} provider cannot be used: {reason} (fix its credentials under /v1/providers)"
    log.warning("workspace channel unavailable: %s", error)
    return UnavailableChannel(provider, error)


def built(provider: str, build: Callable[[], Channel]) -> Channel:
    """``build()``, or a channel that reports why it could not be built."""
    try:
        return build()
    except Exception as exc:  # any mistake in stored credentials; the message says which
        return unavailable(provider, f"{type(exc).__name__}: {exc}")
