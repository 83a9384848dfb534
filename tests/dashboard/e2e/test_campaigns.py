"""Campaigns in a real browser: build the audience as a segment and watch its live count ->
compose a personalised email with its live preview -> schedule at 09:00 local and see the
wave -> launch -> the planner and dispatcher run (in this process, on a simulated clock) ->
the campaign page and its report show the deliveries. axe-core checks each new page; a
viewer sees the campaign but the server refuses their launch."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.campaigns.helpers import Lanes
from tests.dashboard.e2e.flows import create_key, open_section, send_users, sign_up
from tests.dashboard.e2e.test_accessibility import _violations
from tests.dashboard.helpers import PASSWORD, make_operator

pytestmark = pytest.mark.slow


def test_compose_preview_schedule_launch_and_deliveries(
    live_server, new_page, screenshot, database, sink, monkeypatch
):
    # No SMTP server in this test: the email goes to the log sink, as `NUDGE_CHANNELS_TO_LOG` does.
    monkeypatch.setattr(database, "settings", database.settings.model_copy(update={"channels_to_log": True}))
    page = new_page()
    sign_up(page, live_server)
    send_users(live_server, create_key(page))
    problems: list[str] = []

    open_section(page, "Campaigns")
    assert page.get_by_role("heading", name="No campaigns yet").is_visible()
    problems += _violations(page)
    screenshot(page, "20-campaigns-empty")

    # The audience: users on the pro plan (user-0 in Kathmandu, user-2 in Paris), counted live.
    open_section(page, "Segments")
    page.get_by_role("link", name="New segment").click()
    count = page.locator("#audience-count")
    expect(count).to_have_text("3")
    root = page.locator('[data-path="definition.match"]')
    root.locator(":scope > .seg-adds").get_by_role("button", name="+ Condition").click()
    condition = page.locator('[data-path="definition.match.all[0]"]')
    condition.get_by_label("Attribute").fill("plan")
    condition.get_by_label("Value", exact=True).fill("pro")
    expect(count).to_have_text("2")
    page.get_by_label("Segment name").fill("Pro plan")
    page.get_by_role("button", name="Create segment").click()
    expect(page.get_by_role("status")).to_have_text("Segment saved.")

    open_section(page, "Campaigns")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Campaign name").fill("Welcome <b>week</b>")
    page.get_by_label("A saved segment").check()
    page.get_by_label("Segment", exact=True).select_option(label="Pro plan")
    page.get_by_label("Email").check()
    page.locator('[name="variants[0].content.subject"]').fill("Hello {{ user.first_name }}")
    page.locator('[name="variants[0].content.html"]').fill(
        "<h1>Hi {{ user.first_name }}</h1><p>{{ user.attributes.bio }}</p>"
    )
    page.get_by_label("As user").fill("user-0")
    preview = page.locator("#preview")
    expect(preview.locator(".mock-email-subject")).to_contain_text("Hello Grace")
    body = page.frame_locator('iframe[title="Email body preview"]')
    expect(body.locator("h1")).to_have_text("Hi Grace")
    # The attribute holding a script is text inside the sandboxed frame; a dialog would fail the test.
    expect(body.locator("p")).to_have_text("<script>alert('owned')</script>")
    page.get_by_text("Variables you can insert").click()
    expect(page.locator(".insertable")).to_contain_text("{{ user.attributes.plan }}")

    day = date.today() + timedelta(days=2)
    page.get_by_label("When to send").select_option("local")
    page.get_by_label("Date", exact=True).fill(day.isoformat())
    page.get_by_label("Time", exact=True).fill("09:00")
    page.get_by_label("Time", exact=True).dispatch_event("change")
    wave = page.locator("#wave")
    expect(wave.locator("tbody tr")).to_have_count(2)
    expect(wave.locator("tbody tr").first).to_contain_text("Asia/Kathmandu")
    expect(wave.locator(".wave-chart rect")).to_have_count(2)
    problems += _violations(page)
    screenshot(page, "21-campaign-composer")

    page.get_by_role("button", name="Save and review").click()
    page.wait_for_url("**/campaigns/*")
    assert page.get_by_role("heading", name="Welcome <b>week</b>").is_visible()
    expect(page.locator(".lede")).to_contain_text("Draft")
    expect(page.locator(".wave-chart rect")).to_have_count(2)
    problems += _violations(page)
    screenshot(page, "22-campaign-review")
    campaign_url = page.url

    page.get_by_role("button", name="Launch").click()
    expect(page.get_by_role("status")).to_have_text("Campaign launched.")
    expect(page.locator(".lede")).to_contain_text("Scheduled")

    lanes = Lanes(database)
    lanes.emit(sink.jobs)
    now = datetime.now(UTC)
    # Each zone's 09:00 comes. On another thread: Playwright's loop owns this one, and the
    # dispatcher runs its channels on a loop of its own thread.
    worker = threading.Thread(
        target=lanes.simulate, args=(now, now + timedelta(days=3)), kwargs={"tick_every": 900}
    )
    worker.start()
    worker.join(timeout=120)
    page.goto(campaign_url)
    expect(page.locator(".stat").filter(has_text="Sent").locator("dd")).to_have_text("2")
    expect(page.locator("table").first).to_contain_text("sent")
    problems += _violations(page)
    screenshot(page, "23-campaign-delivered")

    # The report: the funnel shows the deliveries, the variant table its one arm.
    page.get_by_role("link", name="Report").click()
    funnel = page.locator(".funnel-table")
    expect(funnel.locator("tr").filter(has_text="Sent").locator("td").first).to_have_text("2")
    expect(funnel.locator("tr").filter(has_text="Sent").locator("td").nth(1)).to_have_text("100.0%")
    expect(page.locator(".funnel-chart rect")).to_have_count(5)
    expect(page.locator(".variants-table tbody tr")).to_have_count(1)
    assert page.locator(".variants-table").get_by_text("Winner").count() == 0
    problems += _violations(page)
    screenshot(page, "26-campaign-report")
    page.goto(campaign_url.split("/campaigns/")[0] + "/")
    expect(page.locator(".stat").filter(has_text="Last 30 days (MAU)").locator("dd")).to_have_text("1")
    expect(page.locator(".chart").nth(1).locator("rect")).to_have_count(30)
    problems += _violations(page)
    screenshot(page, "27-overview-activity")

    open_section(page, "Campaigns")
    expect(page.locator("a.row-link")).to_have_text("Welcome <b>week</b>")
    problems += _violations(page)
    screenshot(page, "24-campaigns-list")
    assert problems == []

    # A viewer reads the campaign, sees no life-cycle buttons, and the server refuses a
    # hand-made request even with the viewer's own valid CSRF token.
    workspace_id = uuid.UUID(campaign_url.split("/")[5])
    make_operator(database, "vic@example.com", workspace_id, "viewer")
    viewer = new_page()
    viewer.goto(f"{live_server}/dashboard/login")
    viewer.get_by_label("Email").fill("vic@example.com")
    viewer.get_by_label("Password").fill(PASSWORD)
    viewer.get_by_role("button", name="Sign in").click()
    viewer.wait_for_url("**/dashboard/w/**")
    viewer.goto(campaign_url)
    assert viewer.get_by_role("heading", name="Welcome <b>week</b>").is_visible()
    assert viewer.get_by_role("button", name="Cancel campaign").count() == 0
    assert viewer.get_by_role("button", name="Send test").count() == 0
    for action in ("launch", "cancel", "test-send"):
        status = viewer.evaluate(
            """async (action) => {
                const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
                const body = new URLSearchParams({csrf_token: token, test_recipients: 'user-0'});
                return (await fetch(location.pathname + '/' + action, {method: 'POST', body})).status;
            }""",
            action,
        )
        assert status == 403, action
    screenshot(viewer, "25-campaign-viewer")
