from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.segments import service
from app.segments.timeouts import scalar_within


def _slow(dialect: str):
    if dialect == "postgresql":
        return select(func.pg_sleep(2))
    return text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) "
        "SELECT count(*) FROM c"
    )


@pytest.mark.smoke
def test_a_slow_statement_is_stopped_and_the_transaction_lives_on(database, tenant):
    with database.session(tenant.workspace_id) as session:
        before = session.scalar(text("SELECT 1"))
        value, timed_out = scalar_within(session, _slow(database.engine.dialect.name), 100)
        assert (value, timed_out) == (None, True)
        assert session.scalar(text("SELECT 2")) == 2
        if database.is_postgres:
            assert session.scalar(text("SHOW statement_timeout")) == "30s"
            value, _ = scalar_within(
                session, text("SELECT current_setting('work_mem')"), 1000, work_mem="64MB"
            )
            assert value == "64MB"
            assert session.scalar(text("SHOW work_mem")) != "64MB"
        value, timed_out = scalar_within(
            session, select(func.count()).select_from(text("(SELECT 1) AS one")), 100
        )
        assert (value, timed_out) == (1, False)
        assert before == 1


def test_preview_says_when_it_hit_the_limit(client, tenant, monkeypatch):
    monkeypatch.setattr(service, "scalar_within", lambda *args, **kwargs: (None, True))
    definition = {"version": 1, "match": {"all": []}}
    r = client.post(
        "/v1/segments/preview",
        json={"definition": definition, "timeout_ms": 250},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["count"], body["timed_out"], body["timeout_ms"]) == (None, True, 250)
    assert "250 ms" in body["message"]
