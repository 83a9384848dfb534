"""Report pages: a campaign's funnel, variants with intervals and a winner badge only when
significant, conversions over time; the overview's DAU/WAU/MAU and daily charts. Every role
may read them; another workspace's campaign is not found."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from app.models import Campaign
from tests.campaigns.helpers import add_users
from tests.dashboard.helpers import member_browser, sign_up
from tests.reports.helpers import add_deliveries, add_events, make_campaign

# Converting users per arm of 400: B is far better than control, A is not.
CONVERTING = {"control": 20, "A": 22, "B": 80}
PER_ARM = 400


@pytest.fixture
def experiment(client, tenant, database, owner_engine):  # type: ignore[no-untyped-def]
    campaign_id = make_campaign(
        client,
        tenant,
        goal={"event": "purchase", "window_hours": 72},
        control_percent=33,
        name="Spring <b>sale</b>",
    )
    now = datetime.now(UTC)
    sent_at = now - timedelta(hours=2)
    with database.transaction(tenant.workspace_id) as session:
        session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status="running", launched_at=sent_at)
        )
    arms = [arm for arm in CONVERTING for _ in range(PER_ARM)]
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(len(arms))])
    rows, events, seen = [], [], dict.fromkeys(CONVERTING, 0)
    for user, arm in zip(users, arms, strict=True):
        control = arm == "control"
        status = "suppressed:control" if control else "delivered"
        rows.append(
            {
                "user_id": user,
                "variant": arm,
                "status": status,
                "due_at": sent_at,
                "sent_at": None if control else sent_at,
                "delivered_at": None if control else sent_at,
            }
        )
        if seen[arm] < CONVERTING[arm]:
            seen[arm] += 1
            events.append((user, "purchase", now - timedelta(minutes=30), {}))
    add_deliveries(database, tenant.workspace_id, campaign_id, rows)
    add_events(database, tenant.workspace_id, events)
    # Fresh tables have no statistics; without them the planner walks every pair of rows.
    with owner_engine.begin() as connection:
        connection.execute(text("ANALYZE deliveries"))
        connection.execute(text("ANALYZE events"))
    return campaign_id


@pytest.mark.parametrize("role", ["viewer", "marketer"])
def test_campaign_report_funnel_variants_winner_and_timeline(browser, database, tenant, experiment, role):
    reader = member_browser(browser, database, tenant.workspace_id, role)
    base = f"/dashboard/w/{tenant.workspace_id}/campaigns/{experiment}"
    assert f'href="{base}/report"' in reader.get(base).text
    page = reader.get(f"{base}/report")
    assert page.status_code == 200
    text = page.text
    assert "Report: Spring &lt;b&gt;sale&lt;/b&gt;" in text
    funnel = dict(re.findall(r'<th scope="row">(\w+)</th><td class="num">([\d,]+)</td>', text))
    assert funnel["Sent"] == "800" and funnel["Delivered"] == "800"
    assert funnel["Opened"] == "0" and funnel["Converted"] == "102"
    assert funnel["Failed"] == "0"
    assert 'class="chart funnel-chart"' in text and text.count("<rect") >= 5
    # B beats control clearly; A does not: one badge, on B, and the intervals are shown.
    assert 'role="status"><span class="badge badge-success">Winner: B</span>' in text
    rows = re.findall(
        r'<tr>\s*<th scope="row">(\w+)( <span class="badge badge-success">Winner</span>)?</th>', text
    )
    badges = {name: badge for name, badge in rows if name in CONVERTING}
    assert badges == {"control": "", "A": "", "B": ' <span class="badge badge-success">Winner</span>'}
    assert "20.00%" in text and re.search(r"\d+\.\d\d% \u2013 \d+\.\d\d%", text)
    assert "timeline-chart" in text
    # On opens nobody differs: no winner is named.
    opens = reader.get(f"{base}/report?metric=opened").text
    assert ("Winner" not in opens and "not significant" in opens) or "needs a second arm" in opens


def test_report_without_goal_and_not_launched(browser, database, client, tenant):
    campaign_id = make_campaign(client, tenant)
    reader = member_browser(browser, database, tenant.workspace_id, "analyst")
    page = reader.get(f"/dashboard/w/{tenant.workspace_id}/campaigns/{campaign_id}/report")
    assert page.status_code == 200
    assert "no goal event" in page.text and "Nothing sent yet." in page.text
    assert (
        "Not launched yet."
        in reader.get(
            f"/dashboard/w/{tenant.workspace_id}/campaigns/{campaign_id}/report?metric=clicked"
        ).text
    )
    assert (
        reader.get(
            f"/dashboard/w/{tenant.workspace_id}/campaigns/{campaign_id}/report?metric=bogus"
        ).status_code
        == 422
    )


def test_another_workspace_cannot_read_the_report(browser, tenant, experiment):
    stranger = browser()
    other = sign_up(stranger, email="eve@example.com", workspace="Other")
    assert stranger.get(f"/dashboard/w/{other}/campaigns/{experiment}/report").status_code == 404
    assert (
        stranger.get(f"/dashboard/w/{tenant.workspace_id}/campaigns/{experiment}/report").status_code == 404
    )


def test_overview_shows_active_users_and_daily_charts(browser, database, tenant, experiment):
    reader = member_browser(browser, database, tenant.workspace_id, "viewer")
    text = reader.get(f"/dashboard/w/{tenant.workspace_id}/").text
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", text))
    assert stats["Last 30 days (MAU)"] == "122"  # the users with an event
    assert "Stickiness (DAU/MAU)" in stats
    assert "Events per day" in text and "Messages sent per day" in text
    daily = re.findall(
        r'<tr><td>(\d{4}-\d\d-\d\d)</td><td class="num">([\d,]+)</td><td class="num">([\d,]+)</td></tr>', text
    )
    assert len(daily) == 30
    assert sum(int(e) for _, e, _ in daily) == 122 and sum(int(m) for _, _, m in daily) == 800
