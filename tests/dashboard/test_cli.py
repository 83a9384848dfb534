from __future__ import annotations

import uuid

from typer.testing import CliRunner

from app.cli import cli
from app.kit.settings import get_settings
from tests.dashboard.helpers import PASSWORD, sign_in


def _run(monkeypatch, settings, *args: str, password: str | None = PASSWORD):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NUDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NUDGE_SECRET_KEY", settings.secret_key.get_secret_value())
    if password is not None:
        monkeypatch.setenv("NUDGE_OPERATOR_PASSWORD", password)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def test_operator_create_makes_the_first_operator_and_workspace(monkeypatch, settings, browser):
    result = _run(monkeypatch, settings, "operator", "create", "root@example.com", "--workspace-name", "Prod")
    assert result.exit_code == 0, result.output
    workspace_id = uuid.UUID(result.output.split("(workspace ")[1].rstrip(").\n"))
    client = browser()
    assert sign_in(client, "root@example.com").status_code == 303
    page = client.get(f"/dashboard/w/{workspace_id}/")
    assert page.status_code == 200 and "Prod" in page.text and "<span>owner</span>" in page.text


def test_operator_create_can_join_an_existing_workspace_and_refuses_nonsense(monkeypatch, settings, browser):
    first = _run(monkeypatch, settings, "operator", "create", "root@example.com")
    workspace_id = first.output.split("(workspace ")[1].rstrip(").\n")
    joined = _run(
        monkeypatch,
        settings,
        "operator",
        "create",
        "viewer@example.com",
        "--workspace",
        workspace_id,
        "--role",
        "viewer",
    )
    assert joined.exit_code == 0, joined.output
    client = browser()
    sign_in(client, "viewer@example.com")
    assert "<span>viewer</span>" in client.get(f"/dashboard/w/{workspace_id}/").text

    for args, password in (
        (("root@example.com",), PASSWORD),  # taken
        (("new@example.com",), "short"),
        (("new@example.com", "--role", "king", "--workspace", workspace_id), PASSWORD),
        (("new@example.com", "--timezone", "Moon/Base"), PASSWORD),
        (("new@example.com", "--workspace", str(uuid.uuid4())), PASSWORD),
    ):
        result = _run(monkeypatch, settings, "operator", "create", *args, password=password)
        assert result.exit_code == 2, (args, result.output)
    assert sign_in(browser(), "new@example.com").status_code == 401


def test_reset_link_prints_a_working_link(monkeypatch, settings, browser):
    _run(monkeypatch, settings, "operator", "create", "root@example.com")
    result = _run(monkeypatch, settings, "operator", "reset-link", "root@example.com", password=None)
    assert result.exit_code == 0, result.output
    path = "/dashboard/" + result.output.strip().split("/dashboard/")[1]
    assert browser().get(path).status_code == 200
    assert (
        _run(monkeypatch, settings, "operator", "reset-link", "nobody@example.com", password=None).exit_code
        == 2
    )
