from __future__ import annotations

import re

from sqlalchemy import select

from app.models import ApiKey, Workspace
from tests.dashboard.helpers import post, sign_up


def test_settings_rename_and_rezone_the_workspace(browser, database):
    client = browser()
    workspace_id = sign_up(client)
    settings = f"/dashboard/w/{workspace_id}/settings"
    assert post(client, settings, {"name": "Acme Global", "timezone": "Asia/Kathmandu"}).status_code == 303
    page = client.get(settings + "?notice=settings-saved")
    assert "Settings saved." in page.text and 'value="Asia/Kathmandu"' in page.text
    with database.transaction() as session:
        stored = session.get(Workspace, workspace_id)
        assert (stored.name, stored.timezone) == ("Acme Global", "Asia/Kathmandu")


def test_settings_refuse_a_zone_that_is_not_iana_and_change_nothing(browser, database):
    client = browser()
    workspace_id = sign_up(client)
    for zone in ("CEST", "Europe/Atlantis", "+05:45"):
        response = post(
            client, f"/dashboard/w/{workspace_id}/settings", {"name": "Renamed", "timezone": zone}
        )
        assert response.status_code == 422
        assert 'id="f-timezone-error"' in response.text and "is not an IANA time zone" in response.text
    with database.transaction() as session:
        stored = session.get(Workspace, workspace_id)
        assert (stored.name, stored.timezone) == ("Acme", "Europe/Berlin")


def test_a_new_key_is_shown_once_works_at_once_and_stops_when_revoked(browser, client, database):
    owner = browser()
    workspace_id = sign_up(owner)
    keys = f"/dashboard/w/{workspace_id}/keys"
    created = post(owner, keys, {"name": "backend", "kind": "secret"})
    assert created.status_code == 201
    plaintext = re.search(r'<code id="new-key">(nk_sec_[^<]+)</code>', created.text).group(1)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.get("/v1/workspace", headers=headers).json()["id"] == str(workspace_id)

    listing = owner.get(keys).text
    assert plaintext not in listing and plaintext[:14] in listing
    with database.transaction(workspace_id) as session:
        key = session.scalars(select(ApiKey)).one()
        assert plaintext not in (key.key_hash, key.prefix)

    assert post(owner, f"{keys}/{key.id}/revoke", token_from=keys).status_code == 303
    assert client.get("/v1/workspace", headers=headers).status_code == 401
    assert "Revoked" in owner.get(keys).text


def test_publishable_keys_are_made_on_the_same_page(browser, client):
    owner = browser()
    workspace_id = sign_up(owner)
    created = post(owner, f"/dashboard/w/{workspace_id}/keys", {"name": "ios", "kind": "publishable"})
    plaintext = re.search(r'<code id="new-key">(nk_pub_[^<]+)</code>', created.text).group(1)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.put("/v1/users/u1", json={}, headers=headers).status_code == 201
    assert client.get("/v1/workspace", headers=headers).status_code == 403
    bad = post(owner, f"/dashboard/w/{workspace_id}/keys", {"kind": "root"})
    assert bad.status_code == 422 and 'id="f-kind-error"' in bad.text


def test_the_switcher_lists_the_operators_workspaces_and_new_ones_can_be_made(browser, database):
    client = browser()
    first = sign_up(client)
    made = post(client, "/dashboard/workspaces/new", {"name": "Second app", "timezone": "America/Sao_Paulo"})
    assert made.status_code == 303
    second = made.headers["location"].split("/")[3]
    page = client.get(f"/dashboard/w/{second}/").text
    assert f'href="/dashboard/w/{first}/"' in page and "Second app" in page
    # /dashboard/ returns to the workspace used last.
    client.get(f"/dashboard/w/{first}/")
    assert client.get("/dashboard/", follow_redirects=False).headers["location"] == f"/dashboard/w/{first}/"
