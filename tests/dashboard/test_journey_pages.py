"""The journey pages: the list, the graph with per-step counts, and the editor (roles,
workspaces, the service's refusals shown at the field)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from app.journeys import service
from app.journeys.schemas import JourneyCreate
from app.models import Role
from app.operators.permissions import Permission, can
from tests.campaigns.helpers import T0, add_users
from tests.dashboard.helpers import member_browser, post, sign_up
from tests.journeys.helpers import Sim, abandoned_cart, enter


def _journey_with_users(database, sink, workspace_id):  # type: ignore[no-untyped-def]
    add_users(
        database, workspace_id, [{"external_id": f"u{i}", "email": f"u{i}@x.example"} for i in range(6)]
    )
    body = abandoned_cart()
    body["definition"]["entry"] = {"type": "api", "next": "wait_purchase"}
    with database.transaction(workspace_id) as session:
        journey = service.create(session, JourneyCreate.model_validate(body), now=T0)
        service.launch(session, journey.id, now=T0)
    enter(database, workspace_id, str(journey.id), [f"u{i}" for i in range(6)], now=T0)
    sim = Sim(database, sink)
    sim.run(T0)
    sim.run(T0 + timedelta(hours=1))  # all six time out: the push step, then the day's wait
    return journey


def test_the_journey_page_draws_the_graph_with_counts(browser, database, sink):  # type: ignore[no-untyped-def]
    client = browser()
    workspace = sign_up(client)
    journey = _journey_with_users(database, sink, workspace)
    listing = client.get(f"/dashboard/w/{workspace}/journeys")
    assert listing.status_code == 200 and "Abandoned cart" in listing.text
    page = client.get(f"/dashboard/w/{workspace}/journeys/{journey.id}")
    assert page.status_code == 200
    html = page.text
    for step in ("wait_purchase", "bought", "push", "wait_day", "email", "done"):
        assert f'id="step-{step}"' in html
    assert "no · 6" in html and "yes · 0" in html
    assert "Wait for event" in html and "“purchase” within 1 h" in html
    missing = client.get(f"/dashboard/w/{workspace}/journeys/0190b7a4-0000-7000-8000-000000000000")
    assert missing.status_code == 404


def test_another_workspace_cannot_open_the_journey(browser, database, sink):  # type: ignore[no-untyped-def]
    owner = browser()
    workspace = sign_up(owner)
    journey = _journey_with_users(database, sink, workspace)
    stranger = browser()
    other = sign_up(stranger, email="eve@example.com", workspace="Evil")
    assert stranger.get(f"/dashboard/w/{workspace}/journeys/{journey.id}").status_code in (403, 404)
    assert stranger.get(f"/dashboard/w/{other}/journeys/{journey.id}").status_code == 404


# The editor ----------------------------------------------------------------------------------

SMALL = {
    "entry": {"type": "event", "event": "cart_add", "filters": [], "next": "wait"},
    "reentry": {"mode": "once", "days": 1},
    "goals": [],
    "steps": [
        {"id": "wait", "type": "wait", "duration": {"days": 0, "hours": 1, "minutes": 0}, "next": "push"},
        {
            "id": "push",
            "type": "send",
            "channel": "push",
            "variants": [{"key": "A", "weight": 1, "content": {"title": "Hi", "body": "Come back"}}],
            "next": "done",
        },
        {"id": "done", "type": "exit"},
    ],
}


def _stored(database, workspace_id):  # type: ignore[no-untyped-def]
    with database.transaction(workspace_id) as session:
        rows, _ = service.list_journeys(session, limit=10, cursor=None)
        return [(j, service.version(session, j).definition) for j in rows]


@pytest.mark.parametrize("role", list(Role))
def test_editing_journeys_needs_edit_messaging(browser, database, role):  # type: ignore[no-untyped-def]
    owner = browser()
    workspace = sign_up(owner)
    client = member_browser(browser, database, workspace, role)
    allowed = can(role, Permission.edit_messaging)
    listing = client.get(f"/dashboard/w/{workspace}/journeys")
    assert listing.status_code == 200 and ("New journey" in listing.text) == allowed
    new = f"/dashboard/w/{workspace}/journeys/new"
    assert client.get(new).status_code == (200 if allowed else 403)
    form = {"name": "Cart", "definition": json.dumps(SMALL)}
    response = post(client, new, form, token_from=f"/dashboard/w/{workspace}/journeys")
    assert response.status_code == (303 if allowed else 403)
    stored = _stored(database, workspace)
    assert len(stored) == (1 if allowed else 0)
    if not allowed:
        return
    journey, definition = stored[0]
    assert definition == SMALL  # exactly the document the page posted
    page = client.get(f"/dashboard/w/{workspace}/journeys/{journey.id}")
    assert "Save journey" in page.text and 'id="step-push"' in page.text


@pytest.mark.parametrize("role", list(Role))
def test_viewers_read_the_editor_but_cannot_change_or_launch(browser, database, role):  # type: ignore[no-untyped-def]
    owner = browser()
    workspace = sign_up(owner)
    created = post(
        owner,
        f"/dashboard/w/{workspace}/journeys/new",
        {"name": "Cart", "definition": json.dumps(SMALL)},
    )
    address = created.headers["location"].split("?")[0]
    client = member_browser(browser, database, workspace, role)
    page = client.get(address)
    assert page.status_code == 200 and "Cart" in page.text
    assert ("Save journey" in page.text) == can(role, Permission.edit_messaging)
    assert (">Launch<" in page.text) == can(role, Permission.launch)
    edited = {"name": "Renamed", "definition": json.dumps(SMALL)}
    assert post(client, address, edited).status_code == (303 if can(role, Permission.edit_messaging) else 403)
    launched = post(client, f"{address}/launch", token_from=address)
    assert launched.status_code == (303 if can(role, Permission.launch) else 403)
    journey, _ = _stored(database, workspace)[0]
    assert (journey.status == "live") == can(role, Permission.launch)


def test_the_service_refusal_is_shown_at_the_step_and_field(browser, database):  # type: ignore[no-untyped-def]
    client = browser()
    workspace = sign_up(client)
    broken = json.loads(json.dumps(SMALL))
    broken["steps"][1]["next"] = "nowhere"
    new = f"/dashboard/w/{workspace}/journeys/new"
    response = post(client, new, {"name": "Cart", "definition": json.dumps(broken)})
    assert response.status_code == 422
    assert "unknown step id &#39;nowhere&#39;" in response.text
    assert 'data-error-path="definition.steps[1].next"' in response.text
    # A schema error (pydantic) names its path too, and the posted document stays in the form.
    broken = json.loads(json.dumps(SMALL))
    broken["steps"][0]["duration"] = {"hours": 0}
    response = post(client, new, {"name": "Cart", "definition": json.dumps(broken)})
    assert response.status_code == 422
    assert 'data-error-path="definition.steps[0].duration"' in response.text
    assert "a duration must be longer than zero" in response.text.lower()
    assert _stored(database, workspace) == []
    # The live preview answers with the same message and path.
    preview = post(
        client,
        f"/dashboard/w/{workspace}/journeys/preview",
        {"definition": json.dumps({**SMALL, "steps": SMALL["steps"][:2]})},
        token_from=new,
    )
    assert preview.status_code == 200
    assert 'data-error-path="definition.steps[1].next"' in preview.text


def test_a_live_journey_edited_in_the_page_gets_a_new_version(browser, database):  # type: ignore[no-untyped-def]
    client = browser()
    workspace = sign_up(client)
    created = post(
        client, f"/dashboard/w/{workspace}/journeys/new", {"name": "Cart", "definition": json.dumps(SMALL)}
    )
    address = created.headers["location"].split("?")[0]
    assert post(client, f"{address}/launch", token_from=address).status_code == 303
    assert post(client, f"{address}/launch", token_from=address).status_code == 409  # live already
    changed = json.loads(json.dumps(SMALL))
    changed["steps"][0]["duration"]["hours"] = 2
    assert post(client, address, {"name": "Cart", "definition": json.dumps(changed)}).status_code == 303
    journey, definition = _stored(database, workspace)[0]
    assert journey.version == 2 and definition == changed
    assert post(client, f"{address}/pause", token_from=address).status_code == 303
    assert post(client, f"{address}/archive", token_from=address).status_code == 303
    page = client.get(address)
    assert "Save journey" not in page.text and ">Launch<" not in page.text  # archived: read only


def test_another_workspace_cannot_edit_or_launch_the_journey(browser, database):  # type: ignore[no-untyped-def]
    owner = browser()
    workspace = sign_up(owner)
    created = post(
        owner, f"/dashboard/w/{workspace}/journeys/new", {"name": "Cart", "definition": json.dumps(SMALL)}
    )
    journey_id = created.headers["location"].split("?")[0].rsplit("/", 1)[1]
    stranger = browser()
    other = sign_up(stranger, email="eve@example.com", workspace="Evil")
    theirs = f"/dashboard/w/{other}/journeys/{journey_id}"
    token_page = f"/dashboard/w/{other}/journeys"
    edit = {"name": "Owned", "definition": json.dumps(SMALL)}
    assert post(stranger, theirs, edit, token_from=token_page).status_code == 404
    assert post(stranger, f"{theirs}/launch", token_from=token_page).status_code == 404
    journey, _ = _stored(database, workspace)[0]
    assert journey.name == "Cart" and journey.status == "draft"
