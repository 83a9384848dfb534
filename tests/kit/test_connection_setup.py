"""What each transaction costs before its first statement on Postgres: the row-level-security
settings travel with the BEGIN, and a pooled connection is pinged only after sitting idle; one
that broke while in use answers 503 once and is replaced."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.kit import db
from app.kit.db import Database
from app.kit.settings import Settings
from app.main import create_app
from tests.conftest import RecordingSink
from tests.content.helpers import PRO, create, variable


@pytest.fixture
def fresh(settings: Settings, database: Database) -> Database:
    if not database.is_postgres:
        pytest.skip("connection set-up is Postgres's")
    own = Database(settings)
    yield own
    own.dispose()


def _backend_pid(database: Database) -> int:
    with database.engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(owner_engine, pid: int) -> None:  # type: ignore[no-untyped-def]
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        conn.commit()


def test_settings_travel_with_the_begin_and_last_one_transaction(fresh: Database, tenant, other_tenant):
    # Transaction-local settings sent before a BEGIN would be gone by the next statement.
    for workspace in (tenant.workspace_id, other_tenant.workspace_id):
        with fresh.transaction(workspace) as session:
            assert session.execute(text("SELECT current_setting('nudge.workspace_id')")).scalar() == str(
                workspace
            )
            assert session.execute(text("SELECT current_setting('nudge.system')")).scalar() == ""
    with fresh.engine.connect() as conn:
        assert conn.execute(text("SELECT current_setting('nudge.workspace_id', true)")).scalar() in ("", None)


def test_a_connection_idle_past_the_limit_is_pinged_and_a_dead_one_replaced(
    fresh: Database, owner_engine, tenant, monkeypatch: pytest.MonkeyPatch
):
    first = _backend_pid(fresh)
    _terminate(owner_engine, first)
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    with fresh.transaction(tenant.workspace_id) as session:
        assert session.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
    assert _backend_pid(fresh) != first


# A route in a worker thread, and a hot read settled on the event loop.
@pytest.mark.parametrize("path", ["/v1/users", "/v1/content?user=someone"])
def test_a_connection_that_died_while_fresh_fails_one_request_with_503(
    fresh: Database, owner_engine, tenant, monkeypatch: pytest.MonkeyPatch, path: str
):
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    app = create_app(fresh.settings, database=fresh, sink=RecordingSink())
    with TestClient(app) as client:
        # A rule on the user's plan: answering the content route takes the user's statement.
        create(client, tenant, variable(rules=[{"definition": PRO, "value": "Pro"}]))
        assert client.get(path, headers=tenant.secret_headers).status_code == 200
        assert fresh.engine.pool.checkedin() == 1  # one connection served the requests
        _terminate(owner_engine, _backend_pid(fresh))
        failed = client.get(path, headers=tenant.secret_headers)
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "unavailable"
        assert failed.headers["Retry-After"] == "1"
        assert client.get(path, headers=tenant.secret_headers).status_code == 200
