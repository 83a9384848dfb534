"""A local HTTP/2 (TLS, ALPN h2) server on its own thread, for the APNs stand-in."""

from __future__ import annotations

import asyncio
import ssl

import h2.config
import h2.connection
import h2.events

from tests.channels.standins.http1_server import Handler, Request, ThreadedServer


class LocalHttp2Server(ThreadedServer):
    def __init__(self, handler: Handler, *, tls: ssl.SSLContext, max_streams: int = 50) -> None:
        super().__init__(handler, tls=tls)
        self.max_streams = max_streams
        self.goaway_after: int | None = None  # send GOAWAY once this many requests were answered

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "h2"
        self.connections += 1
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        writer.write(conn.data_to_send())
        pending: dict[int, tuple[dict[str, str], list[bytes]]] = {}
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        pending[event.stream_id] = ({str(k): str(v) for k, v in event.headers}, [])
                    elif isinstance(event, h2.events.DataReceived):
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                        pending[event.stream_id][1].append(event.data)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = pending.pop(event.stream_id)
                        self._answer(conn, event.stream_id, headers, b"".join(body))
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            return
        finally:
            writer.close()

    def _answer(
        self, conn: h2.connection.H2Connection, stream_id: int, headers: dict[str, str], body: bytes
    ) -> None:
        if self.goaway_after is not None and len(self.requests) >= self.goaway_after:
            conn.close_connection(last_stream_id=stream_id - 2)
            self.goaway_after = None
            return
        request = Request(headers[":method"], headers[":path"], headers, body)
        self.requests.append(request)
        status, answer_headers, answer = self.handler(request)
        response_headers = [(":status", str(status)), *answer_headers.items()]
        if answer:
            response_headers.append(("content-length", str(len(answer))))
        conn.send_headers(stream_id, response_headers, end_stream=not answer)
        if answer:
            conn.send_data(stream_id, answer, end_stream=True)
