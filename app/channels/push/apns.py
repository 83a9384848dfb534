"""Apple Push Notification service over HTTP/2 with token (ES256 JWT) authentication.

Each message is one stream on a shared connection per environment (sandbox or production,
taken from the device). ``apns-id`` is the delivery id, so APNs and its logs name the same
delivery we do. ``BadDeviceToken``, ``Unregistered`` and ``DeviceTokenNotForTopic`` disable
the device; an expired or rejected provider token is replaced and the message sent once
more (a 403 means nothing was delivered); 429 and 5xx are retried later.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import jwt
import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.fanout import fan_out
from app.channels.push.payload import PushContent, retry_after_s
from app.channels.transport.http1 import Response, TransportError
from app.channels.transport.http2 import Http2Connection, Unprocessed

ORIGINS = {"production": "https://api.push.apple.com", "sandbox": "https://api.sandbox.push.apple.com"}
DEFAULT_RETRY_S = 60.0
MAX_IN_FLIGHT = 500  # streams open at once across environments (each connection caps its own)
_JWT_LIFETIME_S = 50 * 60  # APNs refuses tokens older than an hour, and refreshes under 20 minutes
_DEAD_REASONS = {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"}
_AUTH_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}
Environment = Literal["production", "sandbox"]


@dataclass(frozen=True)
class ApnsConfig:
    team_id: str
    key_id: str
    private_key: str  # the .p8 file's PEM text
    topic: str  # the app's bundle id
    default_environment: Environment = "production"

    @classmethod
    def from_credentials(cls, values: dict[str, Any]) -> ApnsConfig:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in fields})


def apns_payload(push: PushContent) -> dict[str, Any]:
    aps: dict[str, Any] = {}
    if push.title or push.body:
        aps["alert"] = {"title": push.title, "body": push.body}
    if push.badge is not None:
        aps["badge"] = push.badge
    if push.sound:
        aps["sound"] = push.sound
    if push.image:
        aps["mutable-content"] = 1
    if not aps:
        aps["content-available"] = 1
    payload: dict[str, Any] = {**push.data, "aps": aps}
    if push.image:
        payload["image"] = push.image
    if push.deep_link:
        payload["deep_link"] = push.deep_link
    return payload


class ApnsChannel:
    name = "push"

    def __init__(
        self,
        config: ApnsConfig,
        *,
        origins: dict[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.config = config
        self.origins = origins or ORIGINS
        self._ssl = ssl_context
        self.timeout_s = timeout_s
        self._connections: dict[str, Http2Connection] = {}
        self._connecting: dict[str, asyncio.Lock] = {}
        self._jwt: str | None = None
        self._jwt_at = 0.0

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await fan_out(messages, self._send_one, MAX_IN_FLIGHT)

    async def aclose(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _provider_token(self, *, renew: bool = False) -> str:
        if renew or self._jwt is None or time.monotonic() - self._jwt_at > _JWT_LIFETIME_S:
            claims = {"iss": self.config.team_id, "iat": int(time.time())}
            self._jwt = jwt.encode(
                claims, self.config.private_key, algorithm="ES256", headers={"kid": self.config.key_id}
            )
            self._jwt_at = time.monotonic()
        return self._jwt

    async def _connection(self, environment: str) -> Http2Connection:
        connection = self._connections.get(environment)
        if connection is not None and not connection.closed:
            return connection
        lock = self._connecting.setdefault(environment, asyncio.Lock())
        async with lock:
            connection = self._connections.get(environment)
            if connection is None or connection.closed:
                parts = urlsplit(self.origins[environment])
                connection = await Http2Connection.open(
                    parts.hostname or "", parts.port or 443, ssl_context=self._ssl, timeout_s=self.timeout_s
                )
                self._connections[environment] = connection
        return connection

    def _headers(
        self, message: OutboundMessage, push: PushContent, token: str, authority: str
    ) -> list[tuple[str, str]]:
        background = not (push.title or push.body)
        headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", authority),
            (":path", f"/3/device/{token}"),
            ("authorization", f"bearer {self._provider_token()}"),
            ("apns-topic", self.config.topic),
            ("apns-push-type", "background" if background else "alert"),
            ("apns-priority", "5" if background else "10"),
            ("apns-id", str(message.delivery_id)),
        ]
        if push.ttl_s is not None:
            headers.append(("apns-expiration", str(int(time.time()) + push.ttl_s if push.ttl_s else 0)))
        if push.collapse_key:
            headers.append(("apns-collapse-id", push.collapse_key[:64]))
        return headers

    async def _send_one(self, message: OutboundMessage) -> SendResult:
        token = str(message.address.get("token") or "").lower()
        if not token:
            return SendResult(message.delivery_id, Outcome.failed, error="no APNs token in address")
        environment = message.address.get("apns_environment") or self.config.default_environment
        if environment not in self.origins:
            return SendResult(
                message.delivery_id, Outcome.failed, error=f"unknown APNs environment {environment!r}"
            )
        push = PushContent.from_content(message.content)
        body = orjson.dumps(apns_payload(push))
        for attempt in range(2):
            try:
                connection = await self._connection(environment)
                headers = self._headers(message, push, token, connection.authority)
                response = await connection.request(headers, body, timeout_s=self.timeout_s)
            except Unprocessed as exc:
                if attempt == 0:
                    continue  # the server did not act on it: safe to send again at once
                return SendResult(message.delivery_id, Outcome.retry, error=f"APNs: {exc}")
            except TransportError as exc:
                return SendResult(message.delivery_id, Outcome.retry, error=f"APNs: {exc}")
            reason = _reason(response)
            if response.status == 403 and reason in _AUTH_REASONS and attempt == 0:
                self._provider_token(renew=True)
                continue
            return _result(message, response, reason)
        return SendResult(message.delivery_id, Outcome.retry, error="APNs refused a fresh provider token")


def _reason(response: Response) -> str:
    if not response.body:
        return ""
    try:
        return str(orjson.loads(response.body).get("reason", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def _result(message: OutboundMessage, response: Response, reason: str) -> SendResult:
    delivery_id = message.delivery_id
    if response.status == 200:
        return SendResult(
            delivery_id, Outcome.sent, provider_id=response.headers.get("apns-id", str(delivery_id))
        )
    error = f"APNs {response.status} {reason}".strip()
    if response.status == 429 or response.status >= 500:
        wait = retry_after_s(response.headers.get("retry-after"), DEFAULT_RETRY_S)
        return SendResult(delivery_id, Outcome.retry, error=error, retry_after_s=wait)
    feedback: dict[str, Any] = {}
    device_id = message.address.get("device_id")
    if device_id and (reason in _DEAD_REASONS or response.status == 410):
        feedback = {"disable_device": str(device_id)}
    return SendResult(delivery_id, Outcome.failed, error=error, feedback=feedback)
