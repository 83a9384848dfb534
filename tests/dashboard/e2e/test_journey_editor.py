"""The journey editor in a real browser: build entry event -> wait 1 h -> push -> exit, watch
the graph follow, save, launch, and find the saved document equal to what the API returns."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import create_key, open_section, sign_up
from tests.dashboard.e2e.test_accessibility import _violations

pytestmark = pytest.mark.slow


def _document(page) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(page.locator("#f-definition").input_value())


def test_building_saving_and_launching_a_journey(live_server, new_page, screenshot):  # type: ignore[no-untyped-def]
    page = new_page()
    sign_up(page, live_server)
    key = create_key(page)
    open_section(page, "Journeys")
    page.get_by_role("link", name="New journey").click()
    page.get_by_label("Journey name").fill("Cart reminder")

    entry = page.locator('fieldset[data-path="definition.entry"]')
    entry.get_by_label("Users enter when").select_option("event")
    entry.get_by_label("Event", exact=True).fill("cart_add")
    entry.get_by_label("New step").select_option("wait")
    entry.get_by_role("button", name="Add step after").click()

    wait = page.locator('fieldset[data-step="wait_1"]')
    expect(wait.get_by_label("Hours")).to_have_value("1")
    wait.get_by_label("New step").select_option("send")
    wait.get_by_role("button", name="Add step after").click()

    send = page.locator('fieldset[data-step="send_1"]')
    expect(send.get_by_label("Channel")).to_have_value("push")
    send.get_by_label("title").fill("Still thinking?")
    send.get_by_label("body").fill("Your {{ event.properties.item }} is waiting")

    # Renaming a step renames what points at it.
    wait.get_by_label("Step id").fill("wait_hour")
    expect(entry.get_by_label("First step")).to_have_value("wait_hour")

    # The graph follows the editor: the service checks the document and draws it.
    graph = page.locator("#journey-graph")
    expect(graph.locator("#step-wait_hour")).to_be_visible()
    expect(graph.locator("#step-send_1")).to_be_visible()
    expect(graph).to_contain_text("When “cart_add” happens")
    built = _document(page)
    assert built["entry"] == {"type": "event", "next": "wait_hour", "event": "cart_add", "filters": []}
    assert [s["id"] for s in built["steps"]] == ["wait_hour", "send_1", "done"]
    assert built["steps"][0] == {
        "id": "wait_hour",
        "type": "wait",
        "duration": {"hours": 1},
        "next": "send_1",
    }
    assert built["steps"][1]["next"] == "done"
    rules = page.locator('fieldset[data-path="definition.reentry"]')
    rules.get_by_role("button", name="+ Conversion event").click()
    conversion = page.locator('[data-path="definition.conversion"]')
    conversion.get_by_label("Conversion event (credited to the last message)").fill("purchase")
    conversion.get_by_label("Within hours").fill("24")
    assert _document(page)["conversion"] == {"event": "purchase", "window_hours": 24, "after": "delivery"}
    screenshot(page, "41-journey-editor")

    page.get_by_role("button", name="Create journey").click()
    expect(page.get_by_role("status")).to_contain_text("Journey saved")
    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("status")).to_contain_text("Journey live")
    expect(page.locator(".badge", has_text="Live")).to_be_visible()
    expect(page.locator("#step-wait_hour > .journey-box .journey-counts")).to_contain_text("Entered")

    journey_id = page.url.split("?")[0].rsplit("/", 1)[1]
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {key}"}) as api:
        stored = api.get(f"/v1/journeys/{journey_id}").json()
    assert stored["status"] == "live" and stored["name"] == "Cart reminder"
    assert stored["definition"]["conversion"]["event"] == "purchase"
    assert _document(page) == stored["definition"]
    assert stored["definition"]["steps"][1]["variants"][0]["content"] == {
        "title": "Still thinking?",
        "body": "Your {{ event.properties.item }} is waiting",
    }
    assert _violations(page) == []

    # "Wait until" is a local time of day: hours and minutes, also once stored as "18:30:00".
    until_label = "Until the next (user's local time)"
    send.get_by_label("New step").select_option("wait_until")
    send.get_by_role("button", name="Add step after").click()
    page.locator('fieldset[data-step="wait_until_1"]').get_by_label(until_label).fill("18:30")
    assert _document(page)["steps"][2] == {
        "id": "wait_until_1",
        "type": "wait_until",
        "time": "18:30",
        "next": "done",
    }
    page.get_by_role("button", name="Save journey").click()
    expect(page.get_by_role("status")).to_contain_text("Journey saved")
    expect(page.locator('fieldset[data-step="wait_until_1"]').get_by_label(until_label)).to_have_value(
        "18:30"
    )
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {key}"}) as api:
        assert api.get(f"/v1/journeys/{journey_id}").json()["definition"]["steps"][2]["time"] == "18:30:00"


def test_a_refused_step_is_marked_where_it_is_wrong(live_server, new_page):  # type: ignore[no-untyped-def]
    page = new_page()
    sign_up(page, live_server)
    open_section(page, "Journeys")
    page.get_by_role("link", name="New journey").click()
    entry = page.locator('fieldset[data-path="definition.entry"]')
    entry.get_by_label("New step").select_option("send")
    entry.get_by_role("button", name="Add step after").click()  # a push without a body
    step = page.locator('fieldset[data-step="send_1"]')
    expect(step.locator(".seg-invalid .journey-field-error")).to_contain_text("push content needs body")
    step.get_by_label("body").fill("Hello")
    expect(page.locator("#journey-graph #step-send_1")).to_be_visible()
    expect(page.locator(".journey-field-error")).to_have_count(0)
