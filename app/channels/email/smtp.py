"""SMTP delivery over a pool of kept-open connections (STARTTLS or implicit TLS, with auth).

Replies decide the outcome: a 5xx to RCPT is a hard bounce (failed, and the address is
suppressed through ``feedback``); other 5xx are final failures; 4xx and lost connections
are retried later with the same Message-ID. A connection found dead before the message
was handed over is replaced and the message tried once more at once: nothing was sent.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiosmtplib

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.email.message import BadMessage, BuiltEmail, Sender, build_email
from app.channels.fanout import fan_out
from app.tracking.links import TrackingLinks


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    from_email: str
    from_name: str = ""
    reply_to: str | None = None
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    pool_size: int = 8
    timeout_s: float = 30.0

    @classmethod
    def from_credentials(cls, values: dict[str, Any]) -> SmtpConfig:
        fields = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in fields})

    @property
    def sender(self) -> Sender:
        return Sender(self.from_email, self.from_name, self.reply_to)


class _StaleConnection(Exception):
    """The pooled connection was closed by the server before the message was handed over."""


class SmtpChannel:
    name = "email"

    def __init__(
        self, config: SmtpConfig, *, links: TrackingLinks | None, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.config = config
        self.links = links
        self._tls = tls_context
        self._idle: asyncio.LifoQueue[aiosmtplib.SMTP] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(config.pool_size)

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await fan_out(messages, self._send_one, self.config.pool_size)

    async def aclose(self) -> None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def _send_one(self, message: OutboundMessage) -> SendResult:
        try:
            built = build_email(message, self.config.sender, self.links)
        except BadMessage as exc:
            return SendResult(message.delivery_id, Outcome.failed, error=f"bad message: {exc}")
        async with self._slots:
            for _attempt in range(2):
                try:
                    return await self._transact(message, built)
                except _StaleConnection:
                    continue
        return SendResult(message.delivery_id, Outcome.retry, error="SMTP server keeps closing connections")

    async def _transact(self, message: OutboundMessage, built: BuiltEmail) -> SendResult:
        smtp = await self._connection()
        if smtp is None:
            return SendResult(message.delivery_id, Outcome.retry, error="cannot connect to the SMTP server")
        stage = "mail"
        try:
            await smtp.mail(self.config.from_email)
            stage = "rcpt"
            await smtp.rcpt(built.recipient)
            stage = "data"
            await smtp.data(built.data)
        except aiosmtplib.SMTPServerDisconnected:
            smtp.close()
            if stage != "data":
                raise _StaleConnection from None
            return SendResult(message.delivery_id, Outcome.retry, error="connection lost during DATA")
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset_or_drop(smtp)
            return _refusal(message, built, stage, exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            smtp.close()
            return SendResult(message.delivery_id, Outcome.retry, error=f"SMTP {stage}: {exc}")
        self._idle.put_nowait(smtp)
        return SendResult(message.delivery_id, Outcome.sent, provider_id=built.message_id)

    async def _connection(self) -> aiosmtplib.SMTP | None:
        while not self._idle.empty():
            smtp = self._idle.get_nowait()
            if smtp.is_connected:
                return smtp
        config = self.config
        smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",  # False, not None: no opportunistic upgrade
            tls_context=self._tls,
            username=config.username,
            password=config.password,
            timeout=config.timeout_s,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
            return None
        return smtp

    async def _reset_or_drop(self, smtp: aiosmtplib.SMTP) -> None:
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
            return
        self._idle.put_nowait(smtp)


def _refusal(message: OutboundMessage, built: BuiltEmail, stage: str, code: int, text: str) -> SendResult:
    error = f"SMTP {stage} {code}: {text}"[:500]
    if 400 <= code < 500:
        return SendResult(message.delivery_id, Outcome.retry, error=error)
    feedback: dict[str, Any] = {}
    if stage == "rcpt":
        feedback = {"suppress_email": built.recipient, "reason": "bounce", "detail": error}
    return SendResult(message.delivery_id, Outcome.failed, error=error, feedback=feedback)
