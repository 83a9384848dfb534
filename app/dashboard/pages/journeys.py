"""Journeys: the list and a read-only page drawing a journey's graph with per-step counts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.dashboard import journey_graph
from app.dashboard.routing import DashboardRoute
from app.dashboard.templating import render
from app.dashboard.viewer import Page
from app.journeys import service
from app.journeys.schemas import Definition
from app.journeys.stats import stats
from app.kit.session import DbSession

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)
PAGE_SIZE = 50


@router.get("/journeys", name="dashboard.journeys")
def journeys_page(
    request: Request,
    session: DbSession,
    page: Page,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    journeys, next_cursor = service.list_journeys(session, limit=PAGE_SIZE, cursor=cursor)
    return render(request, "journeys/index.html", journeys=journeys, next_cursor=next_cursor)


@router.get("/journeys/{journey_id}", name="dashboard.journey")
def journey_page(
    request: Request,
    session: DbSession,
    page: Page,
    journey_id: uuid.UUID,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    journey = service.get(session, journey_id)
    definition = Definition.model_validate(service.version(session, journey, version).definition)
    counts = stats(session, journey, definition, version)
    return render(
        request,
        "journeys/show.html",
        journey=journey,
        version=version,
        entry=journey_graph.entry_text(definition),
        goals=[g.event for g in definition.goals],
        root=journey_graph.tree(definition, counts.steps),
        counts=counts,
    )
