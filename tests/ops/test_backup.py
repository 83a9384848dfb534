"""The backup and restore commands of docs/operations.md, run for real: pg_dump of a live
database, pg_restore into an empty one, ``nudge migrate`` on it, and the app reads its data
back through its own role (row-level security on)."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from sqlalchemy import func, select

from app.kit.db import Database
from app.kit.migrate import upgrade
from app.models import Event, User
from tests.fixtures.databases import PG_ADMIN_URL, drop_postgres_database

pytestmark = pytest.mark.skipif(shutil.which("pg_restore") is None, reason="needs the Postgres client tools")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_dump_and_restore_keep_every_row(client, settings, tenant, tmp_path):
    headers = tenant.secret_headers
    assert (
        client.put("/v1/users/keep", json={"email": "keep@example.com"}, headers=headers).status_code == 201
    )
    events = {"events": [{"user_id": "keep", "name": "app_open"} for _ in range(3)]}
    assert client.post("/v1/events/batch", json=events, headers=headers).status_code == 200

    dump = tmp_path / "nudge.dump"
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _libpq(settings.database_url)],
        check=True,
    )
    restored_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/nudge_restore_{uuid.uuid4().hex[:10]}"
    name = restored_url.rsplit("/", 1)[1]
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    try:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_libpq(restored_url)}", str(dump)],
            check=True,
        )
        upgrade(restored_url)  # `nudge migrate`: nothing to do on a current dump
        restored = Database(settings.model_copy(update={"database_url": restored_url}))
        try:
            with restored.transaction(tenant.workspace_id) as session:
                assert (
                    session.scalar(select(User.email).where(User.external_id == "keep")) == "keep@example.com"
                )
                assert session.scalar(select(func.count()).select_from(Event)) == 3
        finally:
            restored.dispose()
    finally:
        drop_postgres_database(restored_url)
