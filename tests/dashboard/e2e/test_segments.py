"""The segment builder in a real browser: nested groups, Not, several condition kinds, the
live count and sample changing as conditions change, the API's message at the node at fault,
and a saved segment whose stored JSON is what the builder showed. Then the composer takes
the segment as its audience and opens more variants. axe-core checks each page."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import create_key, open_section, send_users, sign_up
from tests.dashboard.e2e.test_accessibility import _violations

pytestmark = pytest.mark.slow


def _definition(page) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(page.locator("#f-definition").input_value())


def test_build_a_segment_and_watch_the_live_count(live_server, new_page, screenshot):
    page = new_page()
    sign_up(page, live_server)
    key = create_key(page)
    send_users(live_server, key)
    problems: list[str] = []

    open_section(page, "Segments")
    assert page.get_by_role("heading", name="No segments yet").is_visible()
    problems += _violations(page)
    page.get_by_role("link", name="New segment").click()
    count = page.locator("#audience-count")
    expect(count).to_have_text("3")  # an empty "all" group: everyone

    root = page.locator('[data-path="definition.match"]')
    adds = root.locator(":scope > .seg-adds")  # the root group's own buttons, not a nested group's
    adds.get_by_role("button", name="+ Condition").click()
    first = page.locator('[data-path="definition.match.all[0]"]')
    first.get_by_label("Attribute").fill("plan")
    first.get_by_label("Value", exact=True).fill("pro")
    expect(count).to_have_text("2")
    expect(page.locator(".audience-sample")).to_contain_text("user-0")
    expect(page.locator(".audience-sample")).to_contain_text("user-2")

    # A nested "any" group with a profile-field condition, then turned around with Not.
    adds.get_by_role("button", name="+ Group").click()
    expect(count).to_have_text("0")  # an empty "any" group matches no one
    nested = page.locator('[data-path="definition.match.all[1]"]')
    nested.locator(":scope > .seg-adds").get_by_role("button", name="+ Condition").click()
    inner = page.locator('[data-path="definition.match.all[1].any[0]"]')
    inner.get_by_label("Condition").select_option("field")
    inner.get_by_label("Field").select_option("country")
    inner.get_by_label("Value", exact=True).fill("FR")
    expect(count).to_have_text("1")
    nested.locator(":scope > .seg-tools").get_by_role("button", name="Not").click()
    expect(count).to_have_text("1")
    expect(page.locator(".audience-sample")).to_contain_text("user-0")
    assert _definition(page) == {
        "version": 1,
        "match": {
            "all": [
                {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"},
                {"not": {"any": [{"type": "field", "field": "country", "op": "eq", "value": "FR"}]}},
            ]
        },
    }

    # An event condition with a count and a window; a typed number value.
    adds.get_by_role("button", name="+ Condition").click()
    event = page.locator('[data-path="definition.match.all[2]"]')
    event.get_by_label("Condition").select_option("event")
    event.get_by_label("Event").fill("purchase")
    expect(count).to_have_text("0")  # only user-1 purchased, and user-1 is on the free plan
    event.get_by_label("Who").select_option("not")
    expect(count).to_have_text("1")
    event.get_by_label("When").select_option("last")
    assert _definition(page)["match"]["all"][2] == {
        "type": "event",
        "name": "purchase",
        "did": False,
        "window": {"last_days": 30},
    }
    problems += _violations(page)
    screenshot(page, "30-segment-builder")

    # A definition the API refuses: its message, and the node at fault is marked.
    first.get_by_label("Operator").select_option("starts_with")
    first.get_by_label("As", exact=True).select_option("number")
    first.get_by_label("Value", exact=True).fill("5")
    expect(page.locator("#audience .error")).to_contain_text(
        "definition.match.all[0].value: starts_with needs a string"
    )
    expect(first).to_have_class("seg-condition seg-invalid")
    screenshot(page, "31-segment-invalid")
    first.get_by_label("As", exact=True).select_option("text")
    first.get_by_label("Value", exact=True).fill("pr")
    expect(count).to_have_text("1")
    expect(first).to_have_class("seg-condition")

    shown = _definition(page)
    page.get_by_label("Segment name").fill("Pro, not in France, no purchase")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("status")).to_have_text("Segment saved.")
    segment_id = page.url.split("/segments/")[1].split("?")[0]
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {key}"}) as api:
        stored = api.get(f"/v1/segments/{segment_id}").json()["definition"]
    assert _definition(page) == stored
    assert stored["match"]["all"][:2] == shown["match"]["all"][:2]
    expect(page.locator('[data-path="definition.match.all[1].not.any[0]"]')).to_be_visible()
    expect(count).to_have_text("1")
    problems += _violations(page)

    # The JSON view edits the same document and redraws the builder.
    page.get_by_text("Definition as JSON").click()
    page.locator("#f-definition").fill(
        json.dumps({"version": 1, "match": {"type": "device", "platform": "apns"}})
    )
    expect(page.locator('[data-path="definition.match"]').get_by_label("Platform")).to_have_value("apns")
    expect(count).to_have_text("1")
    screenshot(page, "32-segment-saved")

    open_section(page, "Segments")
    expect(page.locator("a.row-link")).to_have_text("Pro, not in France, no purchase")
    problems += _violations(page)

    # The composer: the saved segment as audience (the wave counts its one member) and more variants.
    open_section(page, "Campaigns")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("A saved segment").check()
    page.get_by_label("Segment", exact=True).select_option(label="Pro, not in France, no purchase")
    expect(page.locator("#wave figcaption")).to_contain_text("1 user receive")
    assert page.locator("fieldset.variant:visible").count() == 2
    for _ in range(3):
        page.get_by_role("button", name="Add variant").click()
    assert page.locator("fieldset.variant:visible").count() == 5
    page.locator('[name="variants[0].weight"]').fill("3")
    page.locator('[name="variants[1].content.subject"]').fill("B subject")
    page.get_by_label("Control group, % of the audience").fill("20")
    expect(page.locator("#variant-shares")).to_have_text("Audience split: A 60.0%, B 20.0%, control 20.0%.")
    problems += _violations(page)
    screenshot(page, "33-composer-segment-variants")
    assert problems == []


def _every_kind(segment_id: str) -> dict:
    """Every condition kind of docs/segments.md, in nested all / any / not groups."""
    return {
        "version": 1,
        "match": {
            "all": [
                {
                    "type": "attribute",
                    "attribute": "trial_ends",
                    "op": "lt",
                    "value": "2030-07-01",
                    "as": "date",
                },
                {"type": "field", "field": "country", "op": "in", "value": ["NP", "US", "FR"]},
                {"type": "subscription", "channel": "email", "state": "subscribed"},
                {
                    "any": [
                        {"type": "device", "platform": "apns"},
                        {
                            "type": "event",
                            "name": "purchase",
                            "where": [{"property": "value", "op": "gt", "value": 10}],
                            "count": {"op": "between", "value": [1, 5]},
                            "window": {"last_days": 30},
                        },
                        {
                            "type": "aggregate",
                            "name": "purchase",
                            "property": "value",
                            "function": "sum",
                            "op": "gt",
                            "value": 100,
                            "window": {"since": "2025-01-01T00:00:00Z"},
                        },
                        {
                            "type": "occurrence",
                            "name": "app_open",
                            "which": "last",
                            "op": "more_than_ago",
                            "days": 14,
                        },
                        {"not": {"type": "active", "at_least": 3, "of_last_days": 7}},
                        {"type": "near", "latitude": 52.52, "longitude": 13.405, "radius_km": 25},
                        {"type": "message", "action": "opened", "last_days": 14},
                        {"type": "random_bucket", "seed": "holdout", "percent": 10, "offset": 5},
                    ]
                },
                {"not": {"type": "segment", "segment_id": segment_id}},
            ]
        },
    }


def test_the_builder_draws_every_condition_kind_and_changes_only_what_is_edited(live_server, new_page):
    page = new_page()
    sign_up(page, live_server)
    key = create_key(page)
    send_users(live_server, key)
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {key}"}) as api:
        body = {"name": "Nobody", "definition": {"version": 1, "match": {"any": []}}}
        segment_id = api.post("/v1/segments", json=body).json()["id"]
    document = _every_kind(segment_id)
    open_section(page, "Segments")
    page.get_by_role("link", name="New segment").click()
    page.get_by_text("Definition as JSON").click()
    page.locator("#f-definition").fill(json.dumps(document))
    expect(page.locator("#audience-count")).to_have_text(
        "0"
    )  # valid, and no one is in "Nobody"'s complement... of all
    group = "definition.match.all[3].any"
    checks = {
        "definition.match.all[0]": {"Attribute": "trial_ends", "Operator": "lt", "Value": "2030-07-01"},
        "definition.match.all[1]": {
            "Field": "country",
            "Operator": "in",
            "Values, comma-separated": "NP, US, FR",
        },
        "definition.match.all[2]": {"Channel": "email", "State": "subscribed"},
        f"{group}[0]": {"Platform": "apns"},
        f"{group}[1]": {
            "Event": "purchase",
            "Who": "count",
            "Times": "between",
            "From": "1",
            "And": "5",
            "Days": "30",
        },
        f"{group}[1].where[0]": {"Property": "value", "Operator": "gt", "Value": "10", "As": "number"},
        f"{group}[2]": {
            "Function": "sum",
            "Of property": "value",
            "Is": "gt",
            "Number": "100",
            "When": "range",
        },
        f"{group}[3]": {"Which": "last", "Event": "app_open", "Operator": "more_than_ago", "Days": "14"},
        f"{group}[4].not": {"Active on at least (days)": "3", "Of the last (days)": "7"},
        f"{group}[5]": {"Latitude": "52.52", "Longitude": "13.405", "Radius, km": "25"},
        f"{group}[6]": {"Action": "opened", "Campaign": "", "In the last (days, optional)": "14"},
        f"{group}[7]": {"Seed": "holdout", "Percent": "10", "Offset, percent (optional)": "5"},
        "definition.match.all[4].not": {"Segment": segment_id},
    }
    for path, controls in checks.items():
        node = page.locator(f'[data-path="{path}"]')
        for label, value in controls.items():
            expect(node.get_by_label(label, exact=True).first).to_have_value(value)
    assert page.locator('[data-path="definition.match.all[0]"] input[type=checkbox]').is_checked()  # as: date
    assert _definition(page) == document  # drawing changes nothing

    count_end = page.locator(f'[data-path="{group}[1]"]').get_by_label("And", exact=True)
    count_end.fill("6")
    edited = json.loads(json.dumps(document))
    edited["match"]["all"][3]["any"][1]["count"]["value"] = [1, 6]
    assert _definition(page) == edited


def test_settings_page_is_accessible(live_server, new_page, screenshot):
    page = new_page()
    sign_up(page, live_server)
    open_section(page, "Settings")
    page.get_by_label("From", exact=True).fill("22:00")
    page.get_by_label("Until", exact=True).fill("08:00")
    page.get_by_label("Messages, row 1").fill("2")
    page.get_by_label("Window in hours, row 1").fill("24")
    page.get_by_role("button", name="Save delivery rules").click()
    expect(page.get_by_role("status")).to_have_text("Delivery rules saved.")
    page.get_by_text("Email (SMTP)", exact=True).click()
    page.get_by_label("Host").fill("smtp.example.com")
    page.get_by_label("From address").fill("news@example.com")
    page.get_by_label("Password").fill("hunter2-secret")
    page.get_by_role("button", name="Save Email (SMTP)").click()
    expect(page.get_by_role("status")).to_have_text("Credentials saved.")
    assert "hunter2-secret" not in page.content()
    page.get_by_text("Email (SMTP)", exact=True).click()
    problems = _violations(page)
    screenshot(page, "40-settings")
    assert problems == []
