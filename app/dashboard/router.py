"""The dashboard's routes and static files, as one router for app.main."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from app.dashboard.pages import (
    accounts,
    campaigns,
    invitations,
    journeys,
    keys,
    members,
    outbox,
    reports,
    segments,
    settings,
    users,
    variables,
    workspaces,
)
from app.dashboard.routing import DashboardRoute
from app.dashboard.templating import STATIC, STATIC_PREFIX
from app.kit.errors import NotFound

router = APIRouter(include_in_schema=False)
for page in (
    accounts,
    workspaces,
    settings,
    invitations,
    keys,
    members,
    users,
    segments,
    reports,
    campaigns,
    journeys,
    variables,
    outbox,
):
    router.include_router(page.router)

_fallback = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@_fallback.get("/")
def root() -> Response:
    return RedirectResponse("/dashboard/", status_code=307)


@_fallback.get("/dashboard")
def dashboard_without_slash() -> Response:
    return RedirectResponse("/dashboard/", status_code=307)


@_fallback.api_route("/dashboard/{rest:path}", methods=["GET", "POST"])
def not_found(request: Request, rest: str) -> Response:
    """Unknown dashboard addresses get the dashboard's 404 page, not the API's JSON."""
    raise NotFound("there is no page at this address")


router.include_router(_fallback)
STATIC_FILES = (STATIC_PREFIX, StaticFiles(directory=STATIC), "dashboard-static")
