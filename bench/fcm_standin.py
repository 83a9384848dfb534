"""An FCM-like stand-in for the benchmark: a raw ASGI app (served by one uvicorn process)
that answers the OAuth token exchange and ``messages:send`` as FCM does, with a little
checking so a wrong request cannot look fast."""

from __future__ import annotations

import itertools
from typing import Any

import orjson

_counter = itertools.count()
_TOKEN = b'{"access_token":"ya29.bench","expires_in":3599,"token_type":"Bearer"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/token":
        status, out = 200, _TOKEN
    elif scope["path"].endswith("/messages:send"):
        authorised = any(k == b"authorization" and v == b"Bearer ya29.bench" for k, v in scope["headers"])
        if not authorised or b'"token"' not in body:
            status, out = 401, b'{"error":{"code":401,"status":"UNAUTHENTICATED"}}'
        else:
            status, out = 200, b'{"name":"projects/bench/messages/%d"}' % next(_counter)
    else:
        status, out = 404, orjson.dumps({"error": "not found"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": out})
