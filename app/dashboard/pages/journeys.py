"""Journeys: the list, and the editor page: the graph with per-step counts, a step editor in
the browser that edits the same JSON document the API takes, and the life-cycle buttons.
Every change goes through app.journeys.service, exactly as the API does.

Every member reads journeys; marketers and above edit and launch them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.responses import Response

from app.dashboard import journey_graph
from app.dashboard.campaign_form import CONTENT_FIELDS
from app.dashboard.forms import Form, FormErrors, errors_by_path
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.templating import render
from app.dashboard.viewer import Page, WorkspacePage, requires
from app.journeys import graph, service
from app.journeys.schemas import Definition, JourneyCreate, JourneyStats, JourneyUpdate, StepCounts, edges
from app.journeys.stats import stats
from app.kit.errors import Invalid, NudgeError
from app.kit.session import DbSession
from app.models import Segment
from app.models.base import utcnow
from app.models.journey import Journey
from app.operators.permissions import Permission
from app.segments.references import authored

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

Editor = Annotated[WorkspacePage, Depends(requires(Permission.edit_messaging))]
Launcher = Annotated[WorkspacePage, Depends(requires(Permission.launch))]
PAGE_SIZE = 50
# A new journey starts as the smallest valid graph: entered through the API, then out.
STARTER = {
    "entry": {"type": "api", "next": "done"},
    "reentry": {"mode": "once"},
    "goals": [],
    "steps": [{"id": "done", "type": "exit"}],
}
LIFE_CYCLE = {"launch": service.launch, "pause": service.pause, "archive": service.archive}


@router.get("/journeys", name="dashboard.journeys")
def journeys_page(
    request: Request,
    session: DbSession,
    page: Page,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    journeys, next_cursor = service.list_journeys(session, limit=PAGE_SIZE, cursor=cursor)
    return render(request, "journeys/index.html", journeys=journeys, next_cursor=next_cursor)


@router.get("/journeys/new", name="dashboard.journey_new")
def new_journey(request: Request, session: DbSession, page: Editor) -> Response:
    return _editor(request, session, page, None, None, {"name": "", "definition": _json(STARTER)}, {})


@router.post("/journeys/new", name="dashboard.journey_create")
def create_journey(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    try:
        body = JourneyCreate.model_validate(_document(form))
        journey = service.create(session, body, now=utcnow())
    except ValidationError as exc:
        return _refused(request, session, page, None, form, errors_by_path(exc, _document(form)))
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, page, None, form, exc)
    return redirect(request, _address(page, journey, "journey-saved"))


@router.post("/journeys/preview", name="dashboard.journey_preview")
def preview(request: Request, session: DbSession, page: Page, form: Form) -> Response:
    """htmx: the graph of the document as the editor stands, with the counts of the saved
    journey for the steps it already had; a document the API would refuse shows its message."""
    try:
        definition = graph.check(session, Definition.model_validate(_definition(form)))
    except ValidationError as exc:
        errors = errors_by_path(exc, {"definition": _definition(form)}).errors
        field, message = next(iter(errors.items()))
        return render(request, "journeys/_graph.html", error=Invalid(message, field=field))
    except NudgeError as exc:
        return render(request, "journeys/_graph.html", error=exc)
    raw_id = form.get("journey_id")
    journey = service.get(session, uuid.UUID(raw_id)) if isinstance(raw_id, str) and raw_id else None
    counts = stats(session, journey, definition, None) if journey else _no_counts(definition)
    return render(request, "journeys/_graph.html", error=None, **_drawing(definition, counts))


@router.get("/journeys/{journey_id}", name="dashboard.journey")
def journey_page(
    request: Request,
    session: DbSession,
    page: Page,
    journey_id: uuid.UUID,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    journey = service.get(session, journey_id)
    stored = service.version(session, journey, version).definition
    values = {"name": journey.name, "definition": _json(_authored(stored))}
    return _editor(request, session, page, journey, version, values, {})


@router.post("/journeys/{journey_id}", name="dashboard.journey_update")
def update_journey(
    request: Request, session: DbSession, page: Editor, journey_id: uuid.UUID, form: Form
) -> Response:
    journey = service.get(session, journey_id)
    try:
        body = JourneyUpdate.model_validate(_document(form))
        service.update_journey(session, journey.id, body, now=utcnow())
    except ValidationError as exc:
        return _refused(request, session, page, journey, form, errors_by_path(exc, _document(form)))
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, page, journey, form, exc)
    return redirect(request, _address(page, journey, "journey-saved"))


@router.post("/journeys/{journey_id}/{action}", name="dashboard.journey_action")
def life_cycle(
    request: Request, session: DbSession, page: Launcher, journey_id: uuid.UUID, action: str
) -> Response:
    move = LIFE_CYCLE.get(action)
    if move is None:
        raise Invalid(f"unknown action {action!r}", field="action")
    journey = move(session, journey_id, now=utcnow())  # a 409 page when the status forbids it
    return redirect(request, _address(page, journey, f"journey-{action}"))


# Helpers ----------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _address(page: WorkspacePage, journey: Journey, notice: str) -> str:
    return f"/dashboard/w/{page.workspace.id}/journeys/{journey.id}?notice={notice}"


def _authored(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored graph as its author wrote it: branch conditions without embedded copies."""
    steps = [
        {**s, "definition": authored(s["definition"])}
        if s.get("type") == "branch" and "definition" in s
        else s
        for s in stored.get("steps", [])
    ]
    return {**stored, "steps": steps}


def _definition(form: FormData) -> Any:
    raw = form.get("definition")
    try:
        return orjson.loads(raw if isinstance(raw, str) else "")
    except orjson.JSONDecodeError:
        raise Invalid("the journey is not valid JSON", field="definition") from None


def _document(form: FormData) -> dict[str, Any]:
    name = form.get("name")
    return {"name": name.strip() if isinstance(name, str) else "", "definition": _definition(form)}


def _no_counts(definition: Definition) -> JourneyStats:
    steps = [
        StepCounts(
            step=s.id,
            type=s.type,
            entered=0,
            waiting=0,
            exited=0,
            branches={o: 0 for o, _ in edges(s)} if len(edges(s)) > 1 else {},
        )
        for s in definition.steps
    ]
    return JourneyStats(version=None, entered=0, active=0, exited={}, steps=steps)


def _drawing(definition: Definition, counts: JourneyStats) -> dict[str, Any]:
    return {
        "entry": journey_graph.entry_text(definition),
        "goals": [g.event for g in definition.goals],
        "root": journey_graph.tree(definition, counts.steps),
    }


def _refused(
    request: Request,
    session: DbSession,
    page: WorkspacePage,
    journey: Journey | None,
    form: FormData,
    exc: Exception,
) -> Response:
    if isinstance(exc, FormErrors):
        errors, status = dict(exc.errors), 422
    else:
        assert isinstance(exc, NudgeError)
        errors, status = {exc.field or "form": exc.message}, exc.status
    # Errors inside the graph keep the API's path (``definition.steps[0].no``): the editor marks
    # that step's field and the message is the API's own.
    path = next((f for f in errors if f.startswith("definition")), "")
    if path:
        errors["definition"] = errors.pop(path)
        errors["definition_path"] = path
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    return _editor(request, session, page, journey, None, values, errors, status)


def _editor(
    request: Request,
    session: DbSession,
    page: WorkspacePage,
    journey: Journey | None,
    version: int | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    """The editor page; the graph is drawn from the saved version with its counts (htmx
    redraws it from the document as it is edited)."""
    counts = drawing = None
    if journey is not None:
        definition = Definition.model_validate(service.version(session, journey, version).definition)
        counts = stats(session, journey, definition, version)
        drawing = _drawing(definition, counts)
    # Segment names only for those who may read segments (viewers see ids in the JSON).
    segments = (
        [{"id": str(s.id), "name": s.name} for s in session.scalars(select(Segment).order_by(Segment.name))]
        if page.can(Permission.read_users)
        else []
    )
    return render(
        request,
        "journeys/editor.html",
        status,
        journey=journey,
        version=version,
        values=values,
        errors=errors,
        counts=counts,
        drawing=drawing,
        choices=_json({"segments": segments, "content_fields": CONTENT_FIELDS}),
    )
