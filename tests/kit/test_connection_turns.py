"""Many concurrent requests on a tiny connection pool all finish: requests wait for a database
turn on the event loop, so no worker thread sits blocked on the pool while the requests that
hold its connections need a thread to commit."""

from __future__ import annotations

import asyncio

import httpx

from app.auth.user_signature import user_signature
from app.kit.db import Database
from app.kit.settings import Settings
from app.main import create_app
from tests.conftest import RecordingSink


def test_more_concurrent_requests_than_threads_on_a_pool_of_two(settings: Settings, tenant):
    tiny = Database(settings.model_copy(update={"database_pool_size": 1}))
    app = create_app(tiny.settings, database=tiny, sink=RecordingSink())

    async def upsert_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudge", timeout=60) as http:
            responses = await asyncio.gather(
                *(
                    http.put(f"/v1/users/u{n}", json={"attributes": {"n": n}}, headers=tenant.secret_headers)
                    for n in range(60)
                )
            )
        return [response.status_code for response in responses]

    try:
        statuses = asyncio.run(asyncio.wait_for(upsert_all(), 60))
    finally:
        tiny.dispose()
    assert statuses == [201] * 60


def test_inbox_reads_wait_for_their_turn_too(settings: Settings, tenant):
    """The inbox authenticates with its own dependency (publishable key plus user signature);
    it must queue for a turn like the rest, or its reads starve the pool and every request
    waits for the pool's time-out."""
    tiny = Database(settings.model_copy(update={"database_pool_size": 1}))
    app = create_app(tiny.settings, database=tiny, sink=RecordingSink())
    users = [f"u{n}" for n in range(5)]

    def signed(user: str) -> dict[str, str]:
        signature = user_signature(tiny.settings, tenant.workspace_id, user)
        return {**tenant.publishable_headers, "X-Nudge-User": user, "X-Nudge-User-Signature": signature}

    async def mixed() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nudge", timeout=60) as http:
            for user in users:
                await http.put(f"/v1/users/{user}", json={}, headers=tenant.secret_headers)
            responses = await asyncio.gather(
                *(http.get("/v1/inbox", headers=signed(users[n % 5])) for n in range(80)),
                *(
                    http.put(f"/v1/users/{users[n % 5]}", json={}, headers=tenant.secret_headers)
                    for n in range(20)
                ),
            )
        return [response.status_code for response in responses]

    try:
        statuses = asyncio.run(asyncio.wait_for(mixed(), 20))
    finally:
        tiny.dispose()
    assert statuses == [200] * 100
