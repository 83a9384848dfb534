"""A minimal HTTP/2 client connection (h2 state machine on an asyncio protocol), for APNs:
many concurrent streams over one TLS connection, flow control respected, and a GOAWAY
telling which streams the server never processed (those fail with ``Unprocessed`` and are
safe to send again)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

from app.channels.transport.http1 import Response, TransportError


class Unprocessed(TransportError):
    """The server said (GOAWAY or REFUSED_STREAM) it did not act on this request."""


@dataclass
class _Stream:
    done: asyncio.Future[Response]
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: list[bytes] = field(default_factory=list)


_REFUSED_STREAM = 7


class Http2Connection(asyncio.Protocol):
    def __init__(self, authority: str) -> None:
        self.authority = authority
        self.closed = False
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        )
        self._transport: asyncio.Transport | None = None
        self._streams: dict[int, _Stream] = {}
        self._window_open = asyncio.Event()
        self._slots = asyncio.Semaphore(100)  # until the server's SETTINGS say otherwise
        self._limit = 100

    @classmethod
    async def open(
        cls, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None, timeout_s: float = 10.0
    ) -> Http2Connection:
        context = ssl_context or ssl.create_default_context()
        context.set_alpn_protocols(["h2"])
        loop = asyncio.get_running_loop()
        authority = host if port == 443 else f"{host}:{port}"
        try:
            async with asyncio.timeout(timeout_s):
                _transport, connection = await loop.create_connection(
                    lambda: cls(authority), host, port, ssl=context, server_hostname=host
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise TransportError(f"cannot connect to {authority}: {exc}") from None
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._h2.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_from(0, TransportError(f"connection lost: {exc}" if exc else "connection closed"))

    def data_received(self, data: bytes) -> None:
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fail_from(0, TransportError(f"HTTP/2 protocol error: {exc}"))
            self.close()
            return
        for event in events:
            self._handle(event)
        self._flush()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                headers = {str(k): str(v) for k, v in event.headers}
                stream.status = int(headers.pop(":status", "0"))
                stream.headers = headers
        elif isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id)
            if stream is not None:
                stream.body.append(event.data)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None and not stream.done.done():
                stream.done.set_result(Response(stream.status, stream.headers, b"".join(stream.body)))
        elif isinstance(event, h2.events.StreamReset):
            stream = self._streams.pop(event.stream_id, None)
            if stream is not None and not stream.done.done():
                kind = Unprocessed if event.error_code == _REFUSED_STREAM else TransportError
                stream.done.set_exception(kind(f"stream reset ({event.error_code})"))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True
            last = event.last_stream_id or 0
            # Streams up to ``last`` may still be answered; later ones were never processed.
            self._fail_from(last + 1, Unprocessed(f"server sent GOAWAY ({event.error_code})"))
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            changed = event.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            if changed is not None:
                self._resize(changed.new_value)
        elif isinstance(event, h2.events.WindowUpdated):
            self._window_open.set()

    def _resize(self, limit: int) -> None:
        limit = max(1, min(limit, 1000))
        for _ in range(limit - self._limit):
            self._slots.release()
        self._limit = limit  # shrinking takes effect as streams finish (rare in practice)

    async def request(
        self, headers: list[tuple[str, str]], body: bytes, *, timeout_s: float = 10.0
    ) -> Response:
        if self.closed:
            raise Unprocessed("connection is closed")
        async with self._slots:
            stream_id = self._h2.get_next_available_stream_id()
            stream = _Stream(asyncio.get_running_loop().create_future())
            self._streams[stream_id] = stream
            try:
                self._h2.send_headers(stream_id, headers, end_stream=not body)
                self._flush()
                if body:
                    await self._send_body(stream_id, body)
                async with asyncio.timeout(timeout_s):
                    return await stream.done
            except TimeoutError:
                self._reset(stream_id)
                raise TransportError(f"no answer within {timeout_s}s") from None
            except h2.exceptions.ProtocolError as exc:
                raise TransportError(f"HTTP/2 protocol error: {exc}") from None
            finally:
                self._streams.pop(stream_id, None)

    async def _send_body(self, stream_id: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            window = min(self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size)
            if window <= 0:
                self._window_open.clear()
                await self._window_open.wait()
                continue
            chunk, view = view[:window], view[window:]
            self._h2.send_data(stream_id, bytes(chunk), end_stream=not view)
            self._flush()

    def _reset(self, stream_id: int) -> None:
        try:
            self._h2.reset_stream(stream_id)
            self._flush()
        except h2.exceptions.ProtocolError:
            pass

    def _fail_from(self, first_stream_id: int, exc: Exception) -> None:
        for stream_id, stream in list(self._streams.items()):
            if stream_id >= first_stream_id and not stream.done.done():
                stream.done.set_exception(exc)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None and not self._transport.is_closing():
            try:
                self._h2.close_connection()
                self._flush()
            except h2.exceptions.ProtocolError:
                pass
            self._transport.close()
