"""The nudge command against the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from app.cli import cli
from app.kit.settings import get_settings
from tests.campaigns.processes import free_port
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.databases import TEST_SECRET
from tests.fixtures.factories import count_rows

runner = CliRunner()


@pytest.fixture
def nudge(database, monkeypatch):
    """Run ``nudge ARGS`` with the environment pointing at the test database."""
    monkeypatch.setenv("NUDGE_DATABASE_URL", database.settings.database_url)
    monkeypatch.setenv("NUDGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("NUDGE_BROKER_URL", raising=False)
    get_settings.cache_clear()

    def run(*args: str, expect: int = 0):
        result = runner.invoke(cli, list(args))
        assert result.exit_code == expect, (result.output, result.exception)
        return result.output

    yield run
    get_settings.cache_clear()


def printed_keys(output: str) -> tuple[str, dict[str, str]]:
    workspace = re.search(r"Workspace ([0-9a-f-]{36})", output).group(1)
    keys = dict(re.findall(r"(secret|publishable) key: (\S+)", output))
    return workspace, keys


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_workspace_create_prints_keys_that_work(nudge, client):
    workspace, keys = printed_keys(nudge("workspace", "create", "Shop", "--timezone", "Europe/Berlin"))
    assert set(keys) == {"secret", "publishable"}
    info = ok(client.get("/v1/workspace", headers=bearer(keys["secret"])))
    assert (info["id"], info["name"], info["timezone"]) == (workspace, "Shop", "Europe/Berlin")
    ok(client.post("/v1/events", json={"user_id": "u1", "name": "e"}, headers=bearer(keys["publishable"])))
    error_of(client.get("/v1/users", headers=bearer(keys["publishable"])), 403)


def test_workspace_create_refuses_a_zone_that_is_not_iana(nudge, owner_engine):
    output = nudge("workspace", "create", "Shop", "--timezone", "Berlin", expect=2)
    assert "IANA" in output
    assert count_rows(owner_engine, "workspaces") == 0


def test_key_create_and_revoke(nudge, client):
    workspace, keys = printed_keys(nudge("workspace", "create", "Shop"))
    output = nudge("key", "create", "--workspace", workspace, "--kind", "publishable", "--name", "ios")
    key_id, key = re.search(r"publishable key ([0-9a-f-]{36}): (nk_pub_\S+)", output).groups()
    ok(client.post("/v1/events", json={"user_id": "u1", "name": "e"}, headers=bearer(key)))
    assert "ios" in {k["name"] for k in ok(client.get("/v1/keys", headers=bearer(keys["secret"])))}
    assert f"Key {key_id} revoked." in nudge("key", "revoke", key_id, "--workspace", workspace)
    error_of(client.post("/v1/events", json={"user_id": "u1", "name": "e"}, headers=bearer(key)), 401)
    ok(client.get("/v1/workspace", headers=bearer(keys["secret"])))


def test_key_commands_refuse_what_cannot_work(nudge, client, owner_engine):
    workspace, keys = printed_keys(nudge("workspace", "create", "Shop"))
    other, _ = printed_keys(nudge("workspace", "create", "Other"))
    assert "kind" in nudge("key", "create", "--workspace", workspace, "--kind", "admin", expect=2)
    assert "no such" in nudge("key", "create", "--workspace", str(uuid.uuid4()), expect=2)
    secret_id = next(
        k["id"] for k in ok(client.get("/v1/keys", headers=bearer(keys["secret"]))) if k["kind"] == "secret"
    )
    assert "no such API key" in nudge("key", "revoke", secret_id, "--workspace", other, expect=2)
    assert "no such API key" in nudge("key", "revoke", str(uuid.uuid4()), "--workspace", workspace, expect=2)
    ok(client.get("/v1/workspace", headers=bearer(keys["secret"])))
    assert count_rows(owner_engine, "api_keys") == 4


def test_demo_fills_a_workspace_across_time_zones(nudge, client, owner_engine):
    workspace, keys = printed_keys(nudge("demo", "--users", "40", "--days", "5", "--name", "Tiny demo"))
    users = ok(client.get("/v1/users", params={"limit": 1000}, headers=bearer(keys["secret"])))["data"]
    assert len(users) == 40
    assert len({u["timezone"] for u in users}) >= 20
    assert all(u["email"] and u["country"] and u["attributes"].get("plan") for u in users)
    workspace_id = uuid.UUID(workspace)
    assert count_rows(owner_engine, "devices", workspace_id) >= 20
    assert count_rows(owner_engine, "events", workspace_id) >= 40
    assert ok(client.get("/v1/workspace", headers=bearer(keys["secret"])))["name"] == "Tiny demo"


def test_nudge_migrate_builds_a_fresh_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'nudge.db'}"
    command = Path(sys.executable).with_name("nudge")
    environment = {**os.environ, "NUDGE_DATABASE_URL": url}
    result = subprocess.run(
        [command, "migrate"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Database migrated to head." in result.stdout
    engine = create_engine(url)
    assert {"workspaces", "users", "events", "devices", "api_keys"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_serve_on_an_empty_folder_builds_the_demo_and_names_its_own_address(tmp_path):
    """The README's first command, on a port of its own: the links it prints name that port."""
    port = free_port()
    command = Path(sys.executable).with_name("nudge")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    server = subprocess.Popen(
        [command, "serve", "--port", str(port)],
        cwd=tmp_path,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        printed = []
        for line in server.stdout:  # type: ignore[union-attr]
            printed.append(line)
            if line.startswith("Dashboard:"):
                break
        assert f"http://127.0.0.1:{port}/dashboard/" in printed[-1], printed
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nudge serve did not answer /healthz"
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
