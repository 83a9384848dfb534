"""Web Push (RFC 8030) with VAPID authentication (RFC 8292) and encrypted payloads (RFC 8291).

The payload is a small JSON document the service worker shows (see the browser SDK).
404 and 410 mean the subscription is gone: the device is removed. 429 and 5xx are retried
later honouring Retry-After. The VAPID JWT is signed once per push service origin and
reused until it nears expiry."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.fanout import fan_out
from app.channels.push.payload import PushContent, retry_after_s
from app.channels.push.webpush_crypto import VapidKey, b64url_decode, encrypt
from app.channels.transport.http1 import Http1Clients, TransportError

DEFAULT_TTL_S = 4 * 7 * 24 * 3600
DEFAULT_RETRY_S = 60.0
_JWT_LIFETIME_S = 12 * 3600
_GONE = {404, 410}


@dataclass(frozen=True)
class WebPushConfig:
    vapid_private_key: str
    subject: str  # "mailto:ops@example.com" or an https URL, so push services can reach us

    @classmethod
    def from_credentials(cls, values: dict[str, Any]) -> WebPushConfig:
        return cls(vapid_private_key=values["vapid_private_key"], subject=values["subject"])


def webpush_payload(push: PushContent) -> dict[str, Any]:
    payload: dict[str, Any] = {"title": push.title, "body": push.body}
    for key, value in (
        ("image", push.image),
        ("url", push.deep_link),
        ("badge", push.badge),
        ("tag", push.collapse_key),
    ):
        if value is not None:
            payload[key] = value
    if push.data:
        payload["data"] = push.data
    return payload


class WebPushChannel:
    name = "push"

    def __init__(
        self, config: WebPushConfig, *, max_connections: int = 16, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.key = VapidKey.from_text(config.vapid_private_key)
        self.subject = config.subject
        self.clients = Http1Clients(max_connections=max_connections, ssl_context=ssl_context)
        self.concurrency = max_connections
        self._tokens: dict[str, tuple[str, float]] = {}

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await fan_out(messages, self._send_one, self.concurrency)

    async def aclose(self) -> None:
        await self.clients.aclose()

    def _vapid(self, audience: str) -> str:
        cached = self._tokens.get(audience)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        claims = {"aud": audience, "exp": int(time.time()) + _JWT_LIFETIME_S, "sub": self.subject}
        token = jwt.encode(claims, self.key.private_key, algorithm="ES256", headers={"typ": "JWT"})
        self._tokens[audience] = (token, time.monotonic() + _JWT_LIFETIME_S / 2)
        return token

    async def _send_one(self, message: OutboundMessage) -> SendResult:
        address = message.address
        endpoint = str(address.get("token") or address.get("endpoint") or "")
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.netloc:
            return SendResult(
                message.delivery_id, Outcome.failed, error="the subscription endpoint is not https"
            )
        push = PushContent.from_content(message.content)
        try:
            body = encrypt(
                orjson.dumps(webpush_payload(push)),
                b64url_decode(str(address["p256dh"])),
                b64url_decode(str(address["auth"])),
            )
        except (KeyError, ValueError) as exc:
            return SendResult(
                message.delivery_id, Outcome.failed, error=f"cannot encrypt for this subscription: {exc}"
            )
        audience = f"{parts.scheme}://{parts.netloc}"
        headers = [
            ("authorization", f"vapid t={self._vapid(audience)}, k={self.key.public_key_b64}"),
            ("content-encoding", "aes128gcm"),
            ("content-type", "application/octet-stream"),
            ("ttl", str(push.ttl_s if push.ttl_s is not None else DEFAULT_TTL_S)),
            ("urgency", "high" if push.title else "normal"),
        ]
        if push.collapse_key:
            headers.append(("topic", _topic(push.collapse_key)))
        pool, path = self.clients.for_url(endpoint)
        try:
            response = await pool.request("POST", path, headers, body)
        except TransportError as exc:
            return SendResult(message.delivery_id, Outcome.retry, error=f"Web Push: {exc}")
        error = f"Web Push {response.status}: {response.body[:200].decode('utf-8', 'replace')}"
        if response.status in (200, 201, 202):
            return SendResult(message.delivery_id, Outcome.sent, provider_id=response.headers.get("location"))
        if response.status == 429 or response.status >= 500:
            wait = retry_after_s(response.headers.get("retry-after"), DEFAULT_RETRY_S)
            return SendResult(message.delivery_id, Outcome.retry, error=error, retry_after_s=wait)
        feedback: dict[str, Any] = {}
        if response.status in _GONE and address.get("device_id"):
            feedback = {"remove_device": str(address["device_id"])}
        return SendResult(message.delivery_id, Outcome.failed, error=error, feedback=feedback)


def _topic(collapse_key: str) -> str:
    """RFC 8030 topics are at most 32 characters of the base64url alphabet."""
    allowed = "".join(c for c in collapse_key if c.isascii() and (c.isalnum() or c in "-_"))
    return allowed[:32] or "nudge"
