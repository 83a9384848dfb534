"""Channel throughput: email through 8 pooled SMTP connections to a local aiosmtpd, and push
through 64 concurrent FCM requests to a one-process uvicorn stand-in; each beside its floor,
the fastest plain client doing the same requests with no Nudge code around it.

    python bench/channels.py [--quick]

Servers run in their own processes (so the client has a core of its own); the client runs on
uvloop. Prints progress to stderr and one JSON line to stdout at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.channels.base import OutboundMessage, Outcome  # noqa: E402
from app.channels.email.message import Sender, build_email  # noqa: E402
from app.channels.email.smtp import SmtpChannel, SmtpConfig  # noqa: E402
from app.channels.push.fcm import FcmChannel  # noqa: E402
from app.kit.settings import Settings  # noqa: E402
from app.tracking.links import TrackingLinks  # noqa: E402

SMTP_CONNECTIONS = 8
PUSH_CONCURRENCY = 64
CHUNK = 1000
HTML = (
    "<html><body><h1>Hello {name}</h1><p>Your weekly picks are in. "
    '<a href="https://shop.example.com/picks?u={n}">See them</a> or '
    '<a href="https://shop.example.com/account">manage your account</a>.</p></body></html>'
)


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return process


ROUNDS = 3  # floor and Nudge alternate; the best round of each counts (the machine is shared)


async def rate(count: int, run: Callable[[], Awaitable[int]]) -> float:
    started = time.perf_counter()
    done = await run()
    elapsed = time.perf_counter() - started
    if done != count:
        raise RuntimeError(f"only {done} of {count} accepted")
    return count / elapsed


async def best_of(runs: dict[str, Callable[[], Awaitable[float]]]) -> dict[str, float]:
    best = dict.fromkeys(runs, 0.0)
    for _ in range(ROUNDS):
        for name, run in runs.items():
            best[name] = max(best[name], await run())
    return best


# --- email -----------------------------------------------------------------------------


def email_messages(count: int) -> list[OutboundMessage]:
    workspace = uuid.uuid4()
    return [
        OutboundMessage(
            uuid.uuid4(),
            workspace,
            uuid.uuid4(),
            "email",
            {"email": f"user{n}@example.com"},
            {
                "subject": f"Your picks, user {n} ✨",
                "preheader": "New this week",
                "html": HTML.format(name=n, n=n),
            },
        )
        for n in range(count)
    ]


async def smtp_nudge(port: int, messages: list[OutboundMessage], links: TrackingLinks) -> int:
    config = SmtpConfig(
        host="127.0.0.1", port=port, from_email="news@acme.test", security="none", pool_size=SMTP_CONNECTIONS
    )
    channel = SmtpChannel(config, links=links)
    sent = 0
    try:
        for start_at in range(0, len(messages), CHUNK):
            results = await channel.send(messages[start_at : start_at + CHUNK])
            sent += sum(r.outcome is Outcome.sent for r in results)
    finally:
        await channel.aclose()
    return sent


async def smtp_floor(port: int, payloads: list[tuple[str, bytes]]) -> int:
    """aiosmtplib alone, the same 8 connections, messages already built."""
    queue = list(reversed(payloads))
    sent = 0

    async def worker() -> None:
        nonlocal sent
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        while queue:
            recipient, data = queue.pop()
            await smtp.sendmail("news@acme.test", [recipient], data)
            sent += 1
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(SMTP_CONNECTIONS)))
    return sent


# --- push ------------------------------------------------------------------------------


def service_account(origin: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "project_id": "bench",
        "client_email": "bench@bench.iam.gserviceaccount.com",
        "private_key": pem.decode(),
        "token_uri": f"{origin}/token",
    }


def push_messages(count: int) -> list[OutboundMessage]:
    workspace = uuid.uuid4()
    return [
        OutboundMessage(
            uuid.uuid4(),
            workspace,
            uuid.uuid4(),
            "push",
            {"platform": "fcm", "token": f"fcm-token-{n:08d}-" + "x" * 140, "device_id": str(uuid.uuid4())},
            {"title": "Back in stock", "body": f"Item {n} is back", "data": {"sku": n}, "ttl_s": 3600},
        )
        for n in range(count)
    ]


async def push_nudge(origin: str, messages: list[OutboundMessage]) -> int:
    channel = FcmChannel(service_account(origin), origin=origin, max_connections=PUSH_CONCURRENCY)
    sent = 0
    try:
        for start_at in range(0, len(messages), CHUNK):
            results = await channel.send(messages[start_at : start_at + CHUNK])
            sent += sum(r.outcome is Outcome.sent for r in results)
    finally:
        await channel.aclose()
    return sent


class _Bare(asyncio.Protocol):
    """The plainest keep-alive client: write a request, count bytes to the end of the answer."""

    def __init__(self) -> None:
        self.buffer = b""
        self.done: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        if len(rest) >= length and self.done is not None and not self.done.done():
            self.buffer = rest[length:]
            self.done.set_result(int(head[9:12]))


async def push_floor_bare(port: int, requests: list[bytes]) -> int:
    loop = asyncio.get_running_loop()
    queue = list(reversed(requests))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        transport, protocol = await loop.create_connection(_Bare, "127.0.0.1", port)
        while queue:
            raw = queue.pop()
            protocol.done = loop.create_future()
            transport.write(raw)
            status = await protocol.done  # awaited first: "ok += await ..." would lose updates
            ok += status == 200
        transport.close()

    await asyncio.gather(*(worker() for _ in range(PUSH_CONCURRENCY)))
    return ok


async def push_floor_aiohttp(origin: str, bodies: list[bytes]) -> int:
    import aiohttp

    queue = list(reversed(bodies))
    ok = 0
    headers = {"authorization": "Bearer ya29.bench", "content-type": "application/json; charset=UTF-8"}
    connector = aiohttp.TCPConnector(limit=PUSH_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal ok
            while queue:
                body = queue.pop()
                async with session.post(
                    f"{origin}/v1/projects/bench/messages:send", data=body, headers=headers
                ) as r:
                    await r.read()
                    ok += r.status == 200

        await asyncio.gather(*(worker() for _ in range(PUSH_CONCURRENCY)))
    return ok


def raw_requests(port: int, messages: list[OutboundMessage]) -> tuple[list[bytes], list[bytes]]:
    from app.channels.push.fcm import fcm_body
    from app.channels.push.payload import PushContent

    bodies = [
        json.dumps(fcm_body(m.address["token"], PushContent.from_content(m.content))).encode()
        for m in messages
    ]
    head = (
        "POST /v1/projects/bench/messages:send HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "authorization: Bearer ya29.bench\r\ncontent-type: application/json; charset=UTF-8\r\n"
        "Content-Length: {n}\r\n\r\n"
    )
    return [head.format(port=port, n=len(b)).encode() + b for b in bodies], bodies


# --- main ------------------------------------------------------------------------------


async def main(quick: bool) -> dict[str, object]:
    email_count = 1000 if quick else 10000
    push_count = 5000 if quick else 40000
    links = TrackingLinks(Settings(database_url="sqlite:///:memory:", secret_key="b" * 40))
    result: dict[str, object] = {"bench": "channels", "quick": quick, "loop": "uvloop"}

    smtp_port = free_port()
    smtp = start(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{smtp_port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        smtp_port,
    )
    try:
        await smtp_floor(
            smtp_port, [(f"warm{n}@example.com", b"Subject: w\r\n\r\nw\r\n") for n in range(200)]
        )
        messages = email_messages(email_count)
        sender = Sender("news@acme.test")
        payloads = [
            (m.address["email"], build_email(m, sender, links).data) for m in email_messages(email_count)
        ]
        best = await best_of(
            {
                "floor": lambda: rate(email_count, lambda: smtp_floor(smtp_port, payloads)),
                "nudge": lambda: rate(email_count, lambda: smtp_nudge(smtp_port, messages, links)),
            }
        )
        floor, ours = best["floor"], best["nudge"]
        log(f"smtp: nudge {ours:.0f}/s, floor {floor:.0f}/s")
        result.update(smtp_per_s=round(ours), smtp_floor_per_s=round(floor), smtp_messages=email_count)
    finally:
        smtp.terminate()
        smtp.wait()

    push_port = free_port()
    uvicorn_args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        "bench",
        "fcm_standin:app",
        "--port",
        str(push_port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    standin = start(uvicorn_args, push_port)
    origin = f"http://127.0.0.1:{push_port}"
    try:
        messages = push_messages(push_count)
        raw, bodies = raw_requests(push_port, messages)
        await push_floor_bare(push_port, raw[:2000])  # warm-up
        runs = {
            "bare_asyncio": lambda: rate(push_count, lambda: push_floor_bare(push_port, raw)),
            "nudge": lambda: rate(push_count, lambda: push_nudge(origin, messages)),
        }
        if importlib.util.find_spec("aiohttp") is not None:
            runs["aiohttp"] = lambda: rate(push_count, lambda: push_floor_aiohttp(origin, bodies))
        floors = await best_of(runs)
        ours = floors.pop("nudge")
        floor_name = max(floors, key=floors.__getitem__)
        log(f"push: nudge {ours:.0f}/s, floors " + ", ".join(f"{k} {v:.0f}/s" for k, v in floors.items()))
        result.update(
            push_per_s=round(ours),
            push_floor_per_s=round(floors[floor_name]),
            push_floor_client=floor_name,
            push_floors={k: round(v) for k, v in floors.items()},
            push_messages=push_count,
        )
    finally:
        standin.terminate()
        standin.wait()
    result["cpus"] = os.cpu_count()
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run")
    figures = uvloop.run(main(parser.parse_args().quick))
    print(json.dumps(figures))
