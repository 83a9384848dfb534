"""Reports API (secret key). Every report answers JSON, or CSV with ``?format=csv`` or
``Accept: text/csv``. Dates are local days in the workspace zone."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.auth.dependencies import SecretKey
from app.campaigns import service as campaigns
from app.kit.db import current_workspace
from app.kit.session import DbSession
from app.models import Workspace
from app.models.base import utcnow
from app.reports import campaign as campaign_reports
from app.reports import campaign_summary
from app.reports import workspace as workspace_reports
from app.reports.export import RESPONSES, respond
from app.reports.periods import default_days, period, today

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Format = Annotated[Literal["json", "csv"] | None, Query(description="csv: download as CSV")]
Start = Annotated[date | None, Query(description="First local day; default: 30 days before end")]
End = Annotated[date | None, Query(description="Last local day; default: today")]
_DEFAULT_DAYS = 30


def _zone(session: DbSession) -> str:
    workspace = session.get(Workspace, current_workspace(session))
    return workspace.timezone if workspace else "UTC"


def _days(start: date | None, end: date | None, zone: str) -> tuple[date, date]:
    return default_days(start, end, zone, _DEFAULT_DAYS)


@router.get(
    "/campaigns/{campaign_id}",
    responses=RESPONSES,
    summary="A campaign's funnel, failures, variants and channels",
)
def campaign_report(
    campaign_id: uuid.UUID,
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    metric: campaign_reports.Metric = "converted",
    alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
    format: Format = None,
) -> Response:
    campaign = campaigns.get(session, campaign_id)
    report = campaign_summary.report(session, campaign, metric=metric, alpha=alpha)
    return respond(request, report, format, f"campaign-{campaign_id}")


@router.get(
    "/campaigns/{campaign_id}/timeline", responses=RESPONSES, summary="A campaign's funnel per hour or day"
)
def campaign_timeline(
    campaign_id: uuid.UUID,
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    start: Start = None,
    end: End = None,
    interval: Literal["hour", "day"] = "day",
    format: Format = None,
) -> Response:
    campaigns.get(session, campaign_id)
    zone = _zone(session)
    span = period(*_days(start, end, zone), interval, zone)
    rows = campaign_reports.timeline(session, current_workspace(session), campaign_id, span)
    report = {"campaign_id": str(campaign_id), "zone": zone, "interval": interval, "buckets": rows}
    return respond(request, report, format, f"campaign-{campaign_id}-timeline")


@router.get("/activity", responses=RESPONSES, summary="Daily, weekly and monthly active users and stickiness")
def activity(
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    day: Annotated[date | None, Query(description="Local day; default: today")] = None,
    format: Format = None,
) -> Response:
    zone = _zone(session)
    report = workspace_reports.activity(
        session, current_workspace(session), day or today(utcnow(), zone), zone
    )
    return respond(request, {"zone": zone, **report}, format, "activity")


@router.get(
    "/daily", responses=RESPONSES, summary="New users, events by name and messages by channel per local day"
)
def daily(
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    start: Start = None,
    end: End = None,
    format: Format = None,
) -> Response:
    zone = _zone(session)
    span = period(*_days(start, end, zone), "day", zone)
    report = {"zone": zone, **workspace_reports.daily(session, current_workspace(session), span)}
    return respond(request, report, format, "daily")


@router.get("/retention", responses=RESPONSES, summary="Weekly retention cohorts")
def retention(
    request: Request,
    session: DbSession,
    _auth: SecretKey,
    weeks: Annotated[int, Query(ge=1, le=52)] = 8,
    end: End = None,
    format: Format = None,
) -> Response:
    zone = _zone(session)
    last = end or today(utcnow(), zone)
    span = period(last - timedelta(weeks=weeks - 1), last, "week", zone)
    rows = workspace_reports.retention(session, current_workspace(session), span, zone)
    return respond(request, {"zone": zone, "cohorts": rows}, format, "retention")
