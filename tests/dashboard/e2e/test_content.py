"""Content in a real browser: create a variable with a segment rule, see it listed, change it
(a new version) and see an app's GET /v1/content follow; a wrongly typed value is refused at
its field and a stale edit is refused instead of overwriting the newer one."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import create_key, open_section, send_users, sign_up
from tests.dashboard.e2e.test_accessibility import _violations

pytestmark = pytest.mark.slow
RESULTS = "/v1/content/experiments/spring"

PRO_RULE = [
    {
        "definition": {
            "version": 1,
            "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"},
        },
        "value": "Hello, pro",
    }
]


def banner_for(base: str, key: str, user: str) -> str:
    response = httpx.get(
        f"{base}/v1/content", params={"user": user}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return response.json()["values"]["home_banner"]


def test_create_list_edit_and_serve_a_variable(live_server, new_page, screenshot):
    page = new_page()
    sign_up(page, live_server)
    key = create_key(page)
    send_users(live_server, key)  # user-0 and user-2 are on the pro plan, user-1 is not
    problems: list[str] = []

    open_section(page, "Content")
    assert page.get_by_role("heading", name="No variables yet").is_visible()
    page.get_by_label("Key", exact=True).fill("home_banner")
    page.get_by_label("Default value").fill("Welcome")
    page.get_by_label("Rules (JSON)").fill(json.dumps(PRO_RULE))
    page.get_by_role("button", name="Create variable").click()
    expect(page.locator(".notice")).to_contain_text("Variable saved")
    row = page.get_by_role("row").filter(has_text="home_banner")
    expect(row).to_contain_text("string")
    problems += _violations(page)
    screenshot(page, "60-content-list")
    assert (banner_for(live_server, key, "user-0"), banner_for(live_server, key, "user-1")) == (
        "Hello, pro",
        "Welcome",
    )

    row.get_by_role("link", name="home_banner").click()
    editor = page.url
    page.get_by_label("Type").select_option("number")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-default-error")).to_contain_text("Not valid JSON")
    page.get_by_label("Default value").fill("12")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#f-rules-error")).to_contain_text("rules[0].value: expected a number")
    problems += _violations(page)

    page.goto(editor)
    page.get_by_label("Default value").fill("Welcome back")
    stale = new_page()
    stale.context.add_cookies(page.context.cookies())
    stale.goto(editor)  # opened at version 1, saved after the first page's save
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row").filter(has_text="home_banner")).to_contain_text("2")
    assert banner_for(live_server, key, "user-1") == "Welcome back"
    stale.get_by_label("Default value").fill("Lost update")
    stale.get_by_role("button", name="Save").click()
    expect(stale.locator(".form-error")).to_contain_text("version 2")
    assert banner_for(live_server, key, "user-1") == "Welcome back"

    page.goto(editor)
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("row").filter(has_text="home_banner")).to_contain_text("Archived")
    response = httpx.get(
        f"{live_server}/v1/content", params={"user": "user-1"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.json()["values"] == {}
    assert problems == []


def test_an_experiments_results_on_a_goal_event(live_server, new_page):
    page = new_page()
    sign_up(page, live_server)
    key = create_key(page)
    sizes = [{"key": "small", "value": 10}, {"key": "large", "value": 25}]
    body = {"key": "discount", "type": "number", "default": 0, "variants": sizes, "experiment": "spring"}
    names = [f"shopper-{n}" for n in range(40)]
    with httpx.Client(base_url=live_server, headers={"Authorization": f"Bearer {key}"}, timeout=10) as api:
        assert api.post("/v1/variables", json=body).status_code == 201
        opened = api.post(
            "/v1/events/batch", json={"events": [{"user_id": n, "name": "open"} for n in names]}
        )
        assert opened.status_code == 200
        served = {n: api.get("/v1/content", params={"user": n}).json()["variants"]["discount"] for n in names}
        large = [n for n in names if served[n] == "large"]
        assert api.post(
            "/v1/events/batch", json={"events": [{"user_id": n, "name": "buy"} for n in large]}
        ).is_success
        # The server writes exposures within a second of serving them.
        deadline = time.monotonic() + 10
        while sum(a["exposures"] for a in api.get(RESULTS, params={"goal": "buy"}).json()["arms"]) < 40:
            assert time.monotonic() < deadline, "exposures were not written"
            time.sleep(0.2)

    open_section(page, "Content")
    page.get_by_role("link", name="discount").click()
    results = page.locator('section[aria-labelledby="results-title"]')
    expect(results).to_contain_text("spring")
    results.get_by_label("Goal event").fill("buy")
    results.get_by_role("button", name="Show results").click()
    rows = results.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="large")).to_contain_text(f"{len(large)}")
    expect(rows.filter(has_text="large")).to_contain_text("100.00%")
    expect(rows.filter(has_text="small")).to_contain_text("0.00%")
    assert _violations(page) == []
