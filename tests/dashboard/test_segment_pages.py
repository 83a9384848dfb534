"""Segment pages: the list, create/edit/delete through the builder's form (the JSON the API
stores), the live count with its sample, the API's field message for a bad definition, and
each role checked on the server."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from app.models import Segment, User
from tests.campaigns.helpers import add_users
from tests.dashboard.helpers import member_browser, post, sign_up

PRO = {
    "version": 1,
    "match": {"all": [{"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}]},
}


@pytest.fixture
def workspace(browser, database):  # type: ignore[no-untyped-def]
    workspace_id = sign_up(browser())
    add_users(
        database,
        workspace_id,
        [
            {"external_id": "ada", "email": "ada@example.com", "attributes": {"plan": "pro", "visits": 34}},
            {"external_id": "bob", "attributes": {"plan": "free", "visits": "34"}},
            {"external_id": "<script>cy</script>", "attributes": {"plan": "pro"}},
        ],
    )
    return workspace_id


def _stored(database, workspace_id) -> list[Segment]:  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        return list(session.scalars(select(Segment).order_by(Segment.name)))


def _save(client, workspace_id, definition, name="Pro users", path="new"):  # type: ignore[no-untyped-def]
    return post(
        client,
        f"/dashboard/w/{workspace_id}/segments/{path}",
        {"name": name, "description": "", "definition": json.dumps(definition)},
        token_from=f"/dashboard/w/{workspace_id}/segments",
    )


def _count(client, workspace_id, definition) -> str:  # type: ignore[no-untyped-def]
    response = post(
        client,
        f"/dashboard/w/{workspace_id}/segments/preview",
        {"definition": json.dumps(definition)},
        token_from=f"/dashboard/w/{workspace_id}/segments",
    )
    assert response.status_code == 200
    return response.text


def test_create_edit_and_delete_store_the_json_the_api_stores(browser, database, workspace, client, tenant):
    client = member_browser(browser, database, workspace, "marketer")
    assert "No segments yet" in client.get(f"/dashboard/w/{workspace}/segments").text
    created = _save(client, workspace, PRO)
    assert created.status_code == 303, created.text
    [segment] = _stored(database, workspace)
    assert (
        created.headers["location"] == f"/dashboard/w/{workspace}/segments/{segment.id}?notice=segment-saved"
    )
    assert segment.definition == PRO

    page = client.get(f"/dashboard/w/{workspace}/segments/{segment.id}")
    assert page.status_code == 200
    # The builder starts from the stored JSON, as text inside the textarea.
    stored = re.search(r'name="definition"[^>]*>([^<]*)</textarea>', page.text)
    assert stored and json.loads(html.unescape(stored.group(1))) == PRO

    nested = {
        "version": 1,
        "match": {
            "any": [
                {"not": {"type": "attribute", "attribute": "visits", "op": "eq", "value": 34}},
                {"all": [{"type": "event", "name": "purchase", "count": {"op": "gte", "value": 3}}]},
            ]
        },
    }
    updated = _save(client, workspace, nested, name="Renamed", path=str(segment.id))
    assert updated.status_code == 303
    [segment] = _stored(database, workspace)
    assert segment.name == "Renamed"
    through_api = client.post(
        "/v1/segments", json={"name": "n", "definition": nested}, headers=tenant.secret_headers
    )
    assert through_api.status_code == 201
    assert segment.definition == _stored(database, tenant.workspace_id)[0].definition

    listing = client.get(f"/dashboard/w/{workspace}/segments")
    assert "Renamed" in listing.text
    deleted = post(
        client,
        f"/dashboard/w/{workspace}/segments/{segment.id}/delete",
        token_from=f"/dashboard/w/{workspace}/segments/{segment.id}",
    )
    assert deleted.status_code == 303 and _stored(database, workspace) == []


def test_live_count_is_typed_and_samples_escaped_users(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    answer = _count(client, workspace, PRO)
    assert re.search(r'id="audience-count">2<', answer)
    assert "ada" in answer and "&lt;script&gt;cy&lt;/script&gt;" in answer and "<script>cy" not in answer
    number = {"version": 1, "match": {"type": "attribute", "attribute": "visits", "op": "eq", "value": 34}}
    assert re.search(r'id="audience-count">1<', _count(client, workspace, number))
    string = {**number, "match": {**number["match"], "value": "34"}}
    assert ">bob<" in _count(client, workspace, string)


def test_invalid_definitions_show_the_api_field_message(browser, database, workspace, client, tenant):
    marketer = member_browser(browser, database, workspace, "marketer")
    bad = {
        "version": 1,
        "match": {
            "all": [
                PRO["match"]["all"][0],
                {"type": "attribute", "attribute": "x", "op": "equals", "value": 1},
            ]
        },
    }
    answer = _count(marketer, workspace, bad)
    assert 'data-error-path="definition.match.all[1].op"' in answer
    assert "definition.match.all[1].op: unknown operator" in answer
    api = client.post("/v1/segments/preview", json={"definition": bad}, headers=tenant.secret_headers)
    assert api.json()["error"]["message"] in answer.replace("&#39;", "'")

    refused = _save(marketer, workspace, bad)
    assert refused.status_code == 422
    assert 'data-error-path="definition.match.all[1].op"' in refused.text
    assert "unknown operator" in refused.text
    assert (
        "not valid JSON"
        in post(
            marketer,
            f"/dashboard/w/{workspace}/segments/preview",
            {"definition": "{oops"},
            token_from=f"/dashboard/w/{workspace}/segments",
        ).text
    )
    assert _save(marketer, workspace, PRO, name="").status_code == 422
    assert _stored(database, workspace) == []


def test_a_segment_in_use_cannot_be_deleted(browser, database, workspace):
    client = member_browser(browser, database, workspace, "marketer")
    _save(client, workspace, PRO)
    [base] = _stored(database, workspace)
    ref = {"version": 1, "match": {"type": "segment", "segment_id": str(base.id)}}
    assert _save(client, workspace, ref, name="Derived").status_code == 303
    refused = post(
        client,
        f"/dashboard/w/{workspace}/segments/{base.id}/delete",
        token_from=f"/dashboard/w/{workspace}/segments/{base.id}",
    )
    assert refused.status_code == 409 and "is used by" in refused.text
    assert len(_stored(database, workspace)) == 2


def test_analysts_read_segments_but_cannot_change_them(browser, database, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    _save(owner, workspace, PRO)
    [segment] = _stored(database, workspace)
    reader = member_browser(browser, database, workspace, "analyst")
    page = reader.get(f"/dashboard/w/{workspace}/segments/{segment.id}")
    assert page.status_code == 200 and "data-readonly" in page.text
    assert "Delete segment" not in page.text and "Save segment" not in page.text
    assert reader.get(f"/dashboard/w/{workspace}/segments/new").status_code == 403
    token_from = f"/dashboard/w/{workspace}/segments"
    assert _save(reader, workspace, PRO, name="Mine").status_code == 403
    assert _save(reader, workspace, PRO, name="Mine", path=str(segment.id)).status_code == 403
    delete = post(reader, f"/dashboard/w/{workspace}/segments/{segment.id}/delete", token_from=token_from)
    assert delete.status_code == 403
    assert [s.name for s in _stored(database, workspace)] == ["Pro users"]
    answer = _count(reader, workspace, PRO)
    assert re.search(r'id="audience-count">2<', answer) and "ada@example.com" in answer


def test_viewers_do_not_see_segments(browser, database, workspace):
    """Definitions and samples name people; viewers read campaigns and reports only."""
    owner = member_browser(browser, database, workspace, "owner")
    _save(owner, workspace, PRO)
    [segment] = _stored(database, workspace)
    viewer = member_browser(browser, database, workspace, "viewer")
    overview = viewer.get(f"/dashboard/w/{workspace}/").text
    assert f"/dashboard/w/{workspace}/segments" not in overview
    for path in ("segments", f"segments/{segment.id}", "segments/new"):
        assert viewer.get(f"/dashboard/w/{workspace}/{path}").status_code == 403, path
    token_from = f"/dashboard/w/{workspace}/"
    preview = post(
        viewer,
        f"/dashboard/w/{workspace}/segments/preview",
        {"definition": json.dumps(PRO)},
        token_from=token_from,
    )
    assert preview.status_code == 403 and "ada" not in preview.text
    assert (
        post(
            viewer, f"/dashboard/w/{workspace}/segments/{segment.id}/delete", token_from=token_from
        ).status_code
        == 403
    )
    assert len(_stored(database, workspace)) == 1


def test_other_workspaces_segments_are_not_found(browser, database, workspace):
    owner = member_browser(browser, database, workspace, "owner")
    _save(owner, workspace, PRO)
    [segment] = _stored(database, workspace)
    stranger = browser()
    other = sign_up(stranger, email="eve@example.com", workspace="Other")
    assert stranger.get(f"/dashboard/w/{other}/segments/{segment.id}").status_code == 404
    assert stranger.get(f"/dashboard/w/{workspace}/segments/{segment.id}").status_code == 404


def test_a_profile_lists_the_segments_the_user_is_in(browser, database, workspace):
    marketer = member_browser(browser, database, workspace, "marketer")
    _save(marketer, workspace, PRO)
    _save(marketer, workspace, {"version": 1, "match": {"type": "device"}}, name="Reachable by push")
    with database.transaction(workspace) as session:
        ada = session.scalars(select(User).where(User.external_id == "ada")).one()
    profile = marketer.get(f"/dashboard/w/{workspace}/users/{ada.id}").text
    panel = profile.split('aria-label="Segments"')[1].split("</section>")[0]
    assert "Pro users" in panel and "Reachable by push" not in panel
