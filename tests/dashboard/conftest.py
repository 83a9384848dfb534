from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.kit.db import Database
from app.kit.settings import Settings
from app.main import create_app
from app.operators import passwords
from tests.dashboard.helpers import RecordingResetSender


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with the smallest cost: the tests check the logic, not the work factor
    (test_passwords checks the production parameters)."""
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", lambda: fast)
    monkeypatch.setattr(passwords, "_decoy_hash", lambda: fast.hash("decoy"))


@pytest.fixture
def reset_links() -> RecordingResetSender:
    return RecordingResetSender()


@pytest.fixture
def dashboard_app(settings: Settings, database: Database, sink, reset_links: RecordingResetSender) -> FastAPI:  # type: ignore[no-untyped-def]
    app = create_app(settings, database=database, sink=sink)
    app.state.reset_link_sender = reset_links
    return app


@pytest.fixture
def browser(dashboard_app: FastAPI) -> Iterator[Callable[..., TestClient]]:
    """A factory of separate browsers (cookie jars) on one app."""
    opened: list[TestClient] = []

    def open_browser(base_url: str = "http://testserver") -> TestClient:
        client = TestClient(dashboard_app, base_url=base_url, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield open_browser
    for client in opened:
        client.__exit__(None, None, None)
