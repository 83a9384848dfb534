"""Request bodies as the app reads them: gzip inflated (RudderStack's SDKs compress by default),
and refused with 413 past the limit, counted on the inflated bytes, before they fill memory."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.errors import ErrorCode, error_body


@dataclass(frozen=True)
class _Refusal:
    status: int
    code: ErrorCode
    message: str
    field: str


_BAD_GZIP = _Refusal(400, ErrorCode.invalid_json, "the request body is not valid gzip", "body")
_BAD_ENCODING = _Refusal(
    415,
    ErrorCode.unsupported_media_type,
    "request bodies may be sent as identity or gzip",
    "Content-Encoding",
)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = _Refusal(
            413, ErrorCode.payload_too_large, f"request bodies are limited to {max_bytes} bytes", "body"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"identity", b"gzip"):
            await _refuse(send, _BAD_ENCODING)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _refuse(send, self.too_large)
            return
        if encoding == b"identity" and b"transfer-encoding" not in headers:
            # The server frames the body by its declared length (none: no body), checked above.
            await self.app(scope, receive, send)
            return
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16) if encoding == b"gzip" else None
        if inflater is not None:
            # The app sees the body as it was before compression.
            plain = [(k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")]
            scope = {**scope, "headers": plain}
        seen = 0
        refusal: _Refusal | None = None
        started = False

        def refuse(reason: _Refusal) -> _Refused:
            nonlocal refusal
            refusal = reason
            return _Refused()

        async def reading_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            if inflater is not None:
                try:
                    # At most one byte past the limit out of any chunk: a zip bomb stops here.
                    body = inflater.decompress(body, self.max_bytes + 1)
                except zlib.error:
                    raise refuse(_BAD_GZIP) from None
                ended = not message.get("more_body", False)
                if ended and not inflater.eof and not inflater.unconsumed_tail:
                    raise refuse(_BAD_GZIP)
                message = {**message, "body": body}
            seen += len(body)
            if seen > self.max_bytes:
                raise refuse(self.too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None:
                # The app may have turned _Refused into an answer of its own (FastAPI reports a
                # body it could not read as 400): whatever it says, the refusal is the answer.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _refuse(send, refusal)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, reading_receive, guarded_send)
        except _Refused:
            if not started and refusal is not None:
                await _refuse(send, refusal)


async def _refuse(send: Send, refusal: _Refusal) -> None:
    body = orjson.dumps(error_body(refusal.code, refusal.message, refusal.field))
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    pass
