"""The journey pages: the list and the read-only graph with per-step counts."""

from __future__ import annotations

from datetime import timedelta

from app.journeys import service
from app.journeys.schemas import JourneyCreate
from tests.campaigns.helpers import T0, add_users
from tests.dashboard.helpers import sign_up
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
