from __future__ import annotations

import random
import time

import pytest
from fastapi.testclient import TestClient

from app.kit.db import Database
from app.kit.settings import Settings
from app.main import create_app
from tests.fixtures.databases import TEST_SECRET


@pytest.mark.smoke
def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.smoke
def test_readyz_checks_the_database_and_the_in_process_worker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def serve_with(settings: Settings, sink):
    database = Database(settings)
    return database, TestClient(create_app(settings, database=database, sink=sink))


def test_readyz_is_503_when_the_database_is_unreachable(sink):
    settings = Settings(database_url="postgresql://postgres@127.0.0.1:1/nudge", secret_key=TEST_SECRET)
    database, client = serve_with(settings, sink)
    with client:
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["database"].startswith("error")
        assert client.get("/healthz").status_code == 200
    database.dispose()


def test_readyz_checks_a_configured_broker(settings, sink):
    reachable = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:6379/{random.randint(1, 15)}"})
    database, client = serve_with(reachable, sink)
    with client:
        assert client.get("/readyz").json()["checks"]["broker"] == "ok"
    database.dispose()
    unreachable = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    database, client = serve_with(unreachable, sink)
    with client:
        started = time.monotonic()
        response = client.get("/readyz")
        assert time.monotonic() - started < 10
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"] == "ok" and checks["broker"].startswith("error")
    database.dispose()
