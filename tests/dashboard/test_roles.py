"""Each role against each action, on the server: the answer and what is stored afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import ApiKey, Invitation, Role, Workspace
from app.operators.permissions import Permission, can
from tests.dashboard.helpers import member_browser, post, sign_up


@pytest.fixture
def workspace(browser):  # type: ignore[no-untyped-def]
    return sign_up(browser())


def _stored(database, workspace_id, model):  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return list(session.scalars(select(model)))


@pytest.mark.parametrize("role", list(Role))
def test_creating_keys_needs_manage_keys(browser, database, workspace, role):
    client = member_browser(browser, database, workspace, role)
    keys = f"/dashboard/w/{workspace}/keys"
    page = client.get(keys)
    assert page.status_code == 200  # every member sees the list of prefixes
    assert ("Create key" in page.text) == can(role, Permission.manage_keys)
    response = post(client, keys, {"name": "mine", "kind": "secret"})
    expected = 201 if can(role, Permission.manage_keys) else 403
    assert response.status_code == expected
    assert len(_stored(database, workspace, ApiKey)) == (1 if expected == 201 else 0)


@pytest.mark.parametrize("role", list(Role))
def test_revoking_keys_needs_manage_keys(browser, database, workspace, role):
    owner_key = post(
        member_browser(browser, database, workspace, "owner"), f"/dashboard/w/{workspace}/keys", {}
    )
    assert owner_key.status_code == 201
    key = _stored(database, workspace, ApiKey)[0]
    client = member_browser(browser, database, workspace, role)
    response = post(
        client, f"/dashboard/w/{workspace}/keys/{key.id}/revoke", token_from=f"/dashboard/w/{workspace}/keys"
    )
    allowed = can(role, Permission.manage_keys)
    assert response.status_code == (303 if allowed else 403)
    assert (_stored(database, workspace, ApiKey)[0].revoked_at is not None) == allowed


@pytest.mark.parametrize("role", list(Role))
def test_changing_settings_needs_manage_settings(browser, database, workspace, role):
    client = member_browser(browser, database, workspace, role)
    settings = f"/dashboard/w/{workspace}/settings"
    page = client.get(settings)
    assert page.status_code == 200
    assert ("Save changes" in page.text) == can(role, Permission.manage_settings)
    response = post(client, settings, {"name": "Renamed", "timezone": "Asia/Tokyo"})
    allowed = can(role, Permission.manage_settings)
    assert response.status_code == (303 if allowed else 403)
    with database.transaction() as session:
        stored = session.get(Workspace, workspace)
        assert (stored.name, stored.timezone) == (
            ("Renamed", "Asia/Tokyo") if allowed else ("Acme", "Europe/Berlin")
        )


@pytest.mark.parametrize("role", list(Role))
def test_inviting_needs_manage_members(browser, database, workspace, role):
    client = member_browser(browser, database, workspace, role)
    response = post(
        client,
        f"/dashboard/w/{workspace}/members/invite",
        {"email": "new@example.com", "role": "viewer"},
        token_from=f"/dashboard/w/{workspace}/members",
    )
    allowed = can(role, Permission.manage_members)
    assert response.status_code == (201 if allowed else 403)
    assert len(_stored(database, workspace, Invitation)) == (1 if allowed else 0)


@pytest.mark.parametrize("role", list(Role))
def test_user_profiles_need_read_users(browser, database, workspace, role):
    client = member_browser(browser, database, workspace, role)
    allowed = can(role, Permission.read_users)
    assert client.get(f"/dashboard/w/{workspace}/users").status_code == (200 if allowed else 403)
    overview = client.get(f"/dashboard/w/{workspace}/")
    assert overview.status_code == 200
    assert (
        f'href="/dashboard/w/{workspace}/users"' in overview.text
    ) == allowed  # hidden from the sidebar too


def test_the_permission_table_matches_the_roles_promised():
    assert [r for r in Role if can(r, Permission.manage_keys)] == [Role.owner, Role.admin]
    assert [r for r in Role if can(r, Permission.launch)] == [Role.owner, Role.admin, Role.marketer]
    assert [r for r in Role if can(r, Permission.read_users)] == [
        Role.owner,
        Role.admin,
        Role.marketer,
        Role.analyst,
    ]
    assert all(can(r, Permission.view) for r in Role)
