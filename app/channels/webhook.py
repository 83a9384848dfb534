"""The webhook channel: POST the rendered JSON body to the workspace's URL, signed.

Receivers verify ``X-Nudge-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
and reject stale ``X-Nudge-Timestamp`` values; ``X-Nudge-Delivery`` repeats on every retry of
one delivery, so receivers can drop duplicates. 5xx, 429 and time-outs are retried a few
times with backoff, then handed back as ``retry``; any other 4xx is final. Targets resolving
to loopback, private, link-local or reserved addresses are refused unless the settings allow
them, and the connection goes to the address that was checked (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.fanout import fan_out
from app.channels.push.payload import retry_after_s
from app.channels.transport.http1 import Http1Pool, Response, TransportError

DEFAULT_RETRY_S = 60.0
MAX_INLINE_WAIT_S = 10.0
CONCURRENCY = 16


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: str
    timeout_s: float = 10.0
    attempts: int = 3
    backoff_s: float = 0.5

    @classmethod
    def from_credentials(cls, values: dict[str, Any]) -> WebhookConfig:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in fields})


class TargetRefused(Exception):
    """The URL is not one Nudge may call."""


class Unresolvable(TargetRefused):
    """The URL's host has no address (now)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


async def vetted_address(url: str, *, allow_private: bool) -> str:
    """The IP to connect to for ``url``; refuses private targets unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("the webhook URL must be http(s) with a host")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise Unresolvable(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise Unresolvable(f"{parts.hostname} has no address")
    if not allow_private:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise TargetRefused(f"{parts.hostname} resolves to a non-public address ({address})")
    return str(addresses[0])


async def vet_at_save(url: str, *, allow_private: bool) -> None:
    """Refuse, when the URL is saved, a target already known to be non-public. A name that
    does not resolve yet passes: every send checks the target again."""
    try:
        await vetted_address(url, allow_private=allow_private)
    except Unresolvable:
        return


class WebhookChannel:
    name = "webhook"

    def __init__(
        self, config: WebhookConfig, *, allow_private: bool = False, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.config = config
        self.allow_private = allow_private
        self._ssl = ssl_context
        self._pool: Http1Pool | None = None
        parts = urlsplit(config.url)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        try:
            pool = await self._connect()
        except TargetRefused as exc:
            return [
                SendResult(m.delivery_id, Outcome.failed, error=f"webhook target refused: {exc}")
                for m in messages
            ]
        return await fan_out(messages, lambda m: self._send_one(pool, m), CONCURRENCY)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def _connect(self) -> Http1Pool:
        if self._pool is None:
            address = await vetted_address(self.config.url, allow_private=self.allow_private)
            parts = urlsplit(self.config.url)
            origin = f"{parts.scheme}://{parts.netloc}"
            self._pool = Http1Pool(
                origin,
                max_connections=16,
                timeout_s=self.config.timeout_s,
                ssl_context=self._ssl,
                connect_to=address,
            )
        return self._pool

    async def _send_one(self, pool: Http1Pool, message: OutboundMessage) -> SendResult:
        try:
            body = _body(message.content)
        except ValueError as exc:
            return SendResult(message.delivery_id, Outcome.failed, error=f"bad webhook body: {exc}")
        last = SendResult(message.delivery_id, Outcome.retry, error="not attempted")
        wait = 0.0
        for attempt in range(max(1, self.config.attempts)):
            if attempt:
                await asyncio.sleep(max(wait, self.config.backoff_s * 2 ** (attempt - 1)))
            timestamp = int(time.time())
            headers = [
                ("content-type", "application/json"),
                ("user-agent", "Nudge-Webhook/1"),
                ("x-nudge-delivery", str(message.delivery_id)),
                ("x-nudge-timestamp", str(timestamp)),
                ("x-nudge-signature", sign(self.config.secret, timestamp, body)),
            ]
            try:
                response = await pool.request("POST", self._path, headers, body)
            except TransportError as exc:
                last = SendResult(
                    message.delivery_id, Outcome.retry, error=f"webhook: {exc}", retry_after_s=DEFAULT_RETRY_S
                )
                continue
            last = _result(message, response)
            if last.outcome is not Outcome.retry:
                return last
            wait = retry_after_s(response.headers.get("retry-after")) or 0.0
            if wait > MAX_INLINE_WAIT_S:
                return last
        return last


def _body(content: dict[str, Any]) -> bytes:
    """``body``: rendered JSON text (must parse); or ``json``: an object sent as is."""
    if "body" in content:
        text = str(content["body"])
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the rendered body is not JSON ({exc})") from None
        return text.encode()
    return orjson.dumps(content.get("json", {}))


def _result(message: OutboundMessage, response: Response) -> SendResult:
    error = f"webhook {response.status}: {response.body[:200].decode('utf-8', 'replace')}"
    if 200 <= response.status < 300:
        return SendResult(message.delivery_id, Outcome.sent, provider_id=response.headers.get("x-request-id"))
    if response.status == 429 or response.status >= 500:
        wait = retry_after_s(response.headers.get("retry-after"), DEFAULT_RETRY_S)
        return SendResult(message.delivery_id, Outcome.retry, error=error, retry_after_s=wait)
    return SendResult(message.delivery_id, Outcome.failed, error=error)
