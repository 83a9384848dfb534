"""Per-request id, JSON access log line and HTTP metrics, measured around the whole request."""

from __future__ import annotations

import functools
import logging
import re
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit.ids import uuid7
from app.kit.logs import log_context
from app.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = logging.getLogger("nudge.http")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@functools.cache
def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The request's counter and histogram children: looking labels up takes a lock and
    formats them, once per combination instead of per request (routes are a fixed set; an
    unmatched path is counted as "unmatched")."""
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(method, route)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid7().hex
        token = log_context.set({"request_id": request_id})
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            count, latency = _series(scope["method"], path, status)
            count.inc()
            latency.observe(elapsed)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "route": path,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    }
                },
            )
            log_context.reset(token)
