"""Landing, new workspaces and the overview."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.dashboard.forms import Form, FormErrors, parse
from app.dashboard.pages.reports import overview_activity
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import WorkspaceForm
from app.dashboard.templating import render
from app.dashboard.viewer import Page, SignedIn
from app.dashboard.zones import zone_choices
from app.kit.session import DbSession
from app.models import ApiKey, Device, Event, User
from app.models.base import utcnow
from app.operators import memberships
from app.workspaces.service import new_workspace

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
WEEK = timedelta(days=7)


@router.get("/", name="dashboard.home")
def home(request: Request, session: DbSession, viewer: SignedIn) -> Response:
    """The last workspace used, else the first; with none, the page to make one."""
    mine = memberships.workspaces_of(session, viewer.operator.id)
    if not mine:
        return redirect(request, "/dashboard/workspaces/new")
    last = request.state.operator_session.last_workspace_id
    chosen = next((w for w, _ in mine if w.id == last), mine[0][0])
    notice = request.query_params.get("notice")
    return redirect(request, f"/dashboard/w/{chosen.id}/" + (f"?notice={notice}" if notice else ""))


@router.get("/workspaces/new", name="dashboard.new_workspace")
def new_workspace_page(request: Request, session: DbSession, viewer: SignedIn) -> Response:
    mine = memberships.workspaces_of(session, viewer.operator.id)
    return render(
        request, "workspaces/new.html", values={"timezone": "UTC"}, errors={}, zones=zone_choices(), mine=mine
    )


@router.post("/workspaces/new", name="dashboard.new_workspace_submit")
def create_workspace(request: Request, session: DbSession, viewer: SignedIn, form: Form) -> Response:
    try:
        data = parse(WorkspaceForm, form)
    except FormErrors as exc:
        mine = memberships.workspaces_of(session, viewer.operator.id)
        return render(
            request,
            "workspaces/new.html",
            422,
            values=dict(form),
            errors=exc.errors,
            zones=zone_choices(),
            mine=mine,
        )
    workspace = new_workspace(session, name=data.name, timezone=data.timezone)
    memberships.add(session, workspace_id=workspace.id, operator_id=viewer.operator.id, role="owner")
    return redirect(request, f"/dashboard/w/{workspace.id}/?notice=workspace-created")


@router.get("/w/{workspace_id}/", name="dashboard.overview")
def overview(request: Request, session: DbSession, page: Page) -> Response:
    week_ago = utcnow() - WEEK
    counts = {
        "users": _count(session, User),
        "devices": _count(session, Device, Device.enabled),
        "events_7d": _count(session, Event, Event.occurred_at >= week_ago),
        "api_keys": _count(session, ApiKey, ApiKey.revoked_at.is_(None)),
    }
    return render(
        request, "workspaces/overview.html", counts=counts, **overview_activity(session, page.workspace)
    )


def _count(session: Session, model: type, *conditions: ColumnElement[bool]) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0
