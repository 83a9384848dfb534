from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app.kit.db import Database
from app.kit.jobs import Job
from app.kit.settings import Settings
from app.main import create_app
from tests.fixtures.databases import (
    TEST_SECRET,
    create_postgres_database,
    create_sqlite_database,
    drop_postgres_database,
    truncate_all,
)
from tests.fixtures.factories import Tenant, make_tenant
from tests.fixtures.live_server import serve


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test runs on Postgres; tests marked ``smoke`` also run on embedded SQLite."""
    if "backend" in metafunc.fixturenames:
        backends = ["postgres", "sqlite"] if metafunc.definition.get_closest_marker("smoke") else ["postgres"]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield create_sqlite_database(tmp_path_factory.mktemp("sqlite"))
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET, broker_url=None)


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def owner_engine(database_url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> Iterator[None]:
    owner = request.getfixturevalue("owner_engine") if "database" in request.fixturenames else None
    yield
    if owner is not None:
        truncate_all(owner)


class RecordingSink:
    """Collects jobs; serialises them as the broker would, so bad arguments fail here too."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []

    def send(self, job: Job) -> None:
        json.dumps(job.kwargs)
        self.jobs.append(job)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def api(settings: Settings, database: Database, sink: RecordingSink) -> FastAPI:
    return create_app(settings, database=database, sink=sink)


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    with TestClient(api, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def live_url(api: FastAPI) -> Iterator[str]:
    """The same app behind a real uvicorn server (sockets, threads, chunked bodies)."""
    with serve(api) as url:
        yield url


@pytest.fixture
def tenant(database: Database) -> Tenant:
    return make_tenant(database, "Acme")


@pytest.fixture
def other_tenant(database: Database) -> Tenant:
    return make_tenant(database, "Globex")
