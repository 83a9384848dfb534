"""Reports: a campaign's funnel, its variants with intervals and a winner badge, and its
conversions over time; the workspace's activity for the overview. The figures come from
app.reports (the same functions as the reports API); charts are server-side SVG."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.campaigns import service as campaigns
from app.dashboard import charts
from app.dashboard.routing import DashboardRoute
from app.dashboard.templating import render
from app.dashboard.viewer import Page
from app.kit.session import DbSession
from app.kit.timezones import utc_to_local
from app.models import Campaign, Workspace
from app.models.base import utcnow
from app.reports import campaign as campaign_reports
from app.reports import campaign_summary
from app.reports import workspace as workspace_reports
from app.reports.periods import Interval, default_days, period, today

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

ALPHA = 0.05  # 95% intervals, as the statistics module draws them
FUNNEL = (
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("converted", "Converted"),
)
METRICS = (("converted", "Conversions"), ("opened", "Opens"), ("clicked", "Clicks"))
MAX_TIMELINE_DAYS = 90
OVERVIEW_DAYS = 30


@router.get("/campaigns/{campaign_id}/report", name="dashboard.campaign_report")
def campaign_report(
    request: Request,
    session: DbSession,
    page: Page,
    campaign_id: uuid.UUID,
    metric: Annotated[campaign_reports.Metric, Query()] = "converted",
) -> Response:
    campaign = campaigns.get(session, campaign_id)
    report = campaign_summary.report(session, campaign, metric=metric, alpha=ALPHA)
    funnel = report["funnel"]
    stages = [(label, int(funnel[key])) for key, label in FUNNEL]
    return render(
        request,
        "campaigns/report.html",
        campaign=campaign,
        report=report,
        metric=metric,
        metrics=METRICS,
        funnel_rows=_funnel_rows(funnel),
        funnel_bars=charts.funnel(stages),
        **_timeline(session, page.workspace, campaign, metric),
    )


def _funnel_rows(funnel: dict[str, Any]) -> list[tuple[str, int, float | None]]:
    """Each stage with its users and their share of the users sent."""
    sent = funnel["sent"]
    return [(label, int(funnel[key]), funnel[key] / sent if sent else None) for key, label in FUNNEL]


def _timeline(session: Session, workspace: Workspace, campaign: Campaign, metric: str) -> dict[str, Any]:
    """``metric`` per local hour (sends younger than two days) or day, since the launch."""
    if campaign.launched_at is None:
        return {"timeline": [], "timeline_bars": [], "interval": "day"}
    zone = workspace.timezone
    last = today(utcnow(), zone)
    first = max(utc_to_local(campaign.launched_at, zone).date(), last - timedelta(days=MAX_TIMELINE_DAYS - 1))
    first = min(first, last)
    interval: Interval = "hour" if (last - first).days < 2 else "day"
    rows = campaign_reports.timeline(session, workspace.id, campaign.id, period(first, last, interval, zone))
    points = [(_label(row["bucket"], interval), int(row[metric])) for row in rows]
    return {"timeline": rows, "timeline_bars": charts.columns(points), "interval": interval}


def _label(bucket: str, interval: str) -> str:
    """A bucket's local start (ISO) as an axis label: 14:00, or Mar 05."""
    if interval == "hour":
        return bucket[11:16]
    return date.fromisoformat(bucket[:10]).strftime("%b %d")


def overview_activity(session: Session, workspace: Workspace) -> dict[str, Any]:
    """DAU/WAU/MAU today and events and messages per local day over the last month."""
    zone = workspace.timezone
    span = period(*default_days(None, None, zone, OVERVIEW_DAYS), "day", zone)
    daily = workspace_reports.daily(session, workspace.id, span)
    events = _per_day(span.labels, daily["events"])
    messages = _per_day(span.labels, daily["messages"])
    return {
        "activity": workspace_reports.activity(session, workspace.id, today(utcnow(), zone), zone),
        "days": [
            {"day": label, "events": events[i], "messages": messages[i]}
            for i, label in enumerate(span.labels)
        ],
        "event_bars": charts.columns(
            [(_label(d, "day"), n) for d, n in zip(span.labels, events, strict=True)]
        ),
        "message_bars": charts.columns(
            [(_label(d, "day"), n) for d, n in zip(span.labels, messages, strict=True)]
        ),
    }


def _per_day(labels: list[str], rows: list[dict[str, Any]]) -> list[int]:
    """Rows split by event name or channel, added up per day."""
    totals = dict.fromkeys(labels, 0)
    for row in rows:
        totals[row["day"]] += int(row["count"])
    return [totals[label] for label in labels]
