"""axe-core (vendored in the static folder) on the main pages: no serious or critical
violations."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import create_key, open_section, send_users, sign_up

pytestmark = pytest.mark.slow

SEVERE = ("serious", "critical")


def _violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.add_script_tag(url="/dashboard/static/vendor/axe.min.js")
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in SEVERE
    ]


def test_main_pages_have_no_serious_accessibility_violations(live_server, new_page, screenshot):
    anonymous = new_page()
    problems: list[str] = []
    for path in ("/dashboard/login", "/dashboard/signup", "/dashboard/forgot", "/dashboard/no-such-page"):
        anonymous.goto(live_server + path)
        problems += _violations(anonymous)

    page = new_page()
    overview = sign_up(page, live_server)
    problems += _violations(page)
    key = create_key(page)
    problems += _violations(page)  # with the shown-once key
    send_users(live_server, key)
    page.goto(overview)
    problems += _violations(page)
    open_section(page, "Users")
    problems += _violations(page)
    page.get_by_label("External id or email").fill("nobody-by-that-name")
    page.wait_for_selector("text=No users match")
    problems += _violations(page)
    page.get_by_label("External id or email").fill("user-1")
    expect(page.locator("a.row-link")).to_have_count(1)
    page.locator("a.row-link").first.click()
    page.wait_for_selector(".timeline")
    problems += _violations(page)
    open_section(page, "Outbox")
    page.wait_for_selector("text=No emails yet")
    problems += _violations(page)
    open_section(page, "Members")
    page.get_by_label("Email").fill("someone@example.com")
    page.get_by_role("button", name="Create invitation link").click()
    problems += _violations(page)
    link = page.locator("#invite-link").inner_text().strip()
    open_section(page, "Settings")
    page.get_by_label("Default time zone").fill("Nowhere/Special")
    page.get_by_role("button", name="Save changes").click()
    problems += _violations(page)  # with a field error
    page.locator("details.switcher summary").click()
    problems += _violations(page)  # the workspace switcher open
    screenshot(page, "11-switcher-open")
    anonymous.goto(link)
    problems += _violations(anonymous)
    assert problems == []
