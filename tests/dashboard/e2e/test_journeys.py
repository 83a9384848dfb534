"""A journey's page in a real browser: the graph with its branches and per-step counts."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.dashboard.e2e.flows import open_section, sign_up
from tests.dashboard.e2e.test_accessibility import _violations
from tests.dashboard.test_journey_pages import _journey_with_users

pytestmark = pytest.mark.slow


def test_the_journey_graph_in_a_browser(live_server, new_page, screenshot, database, sink):  # type: ignore[no-untyped-def]
    page = new_page()
    overview = sign_up(page, live_server)
    workspace = uuid.UUID(overview.rstrip("/").rsplit("/", 1)[1])
    _journey_with_users(database, sink, workspace)
    open_section(page, "Journeys")
    page.get_by_role("link", name="Abandoned cart").click()
    expect(page.get_by_role("heading", name="Abandoned cart")).to_be_visible()

    def counts(step: str) -> list[str]:
        box = page.locator(f"#step-{step} .journey-box").first
        expect(box).to_be_visible()
        return [
            box.locator("dt").nth(i).inner_text() + " " + box.locator("dd").nth(i).inner_text()
            for i in range(3)
        ]

    assert counts("push") == ["Entered 6", "Waiting 0", "Exited 0"]
    assert counts("wait_day") == ["Entered 6", "Waiting 6", "Exited 0"]
    assert counts("email") == ["Entered 0", "Waiting 0", "Exited 0"]
    expect(page.locator("#step-wait_purchase > .journey-branches > .journey-edge").nth(1)).to_contain_text(
        "no · 6"
    )
    assert _violations(page) == []
    screenshot(page, "40-journey-graph")
