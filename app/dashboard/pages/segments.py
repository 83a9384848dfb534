"""Segments: the list, the visual builder (a condition tree edited in the browser and posted
as the same JSON the API stores), the live audience count with a sample of members, and
delete. Every change goes through app.segments.service, exactly as the API does.

Segments are read by the roles that may read users (definitions and samples name people:
analysts yes, viewers no) and changed by those that edit messaging."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData
from starlette.responses import Response

from app.dashboard.forms import Form, FormErrors, errors_by_path
from app.dashboard.panels import PROFILE_PANELS, ProfilePanel
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.templating import render
from app.dashboard.viewer import UsersReader, WorkspacePage, requires
from app.kit.errors import Invalid, NudgeError
from app.kit.session import DbSession
from app.models import Campaign, Segment
from app.operators.permissions import Permission
from app.segments import service
from app.segments.references import authored
from app.segments.schemas import PREVIEW_TIMEOUT_MS, SegmentIn

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

Editor = Annotated[WorkspacePage, Depends(requires(Permission.edit_messaging))]
PAGE_SIZE = 50
SAMPLE_SIZE = 10
EMPTY = {"version": 1, "match": {"all": []}}

PROFILE_PANELS.append(
    ProfilePanel(
        "Segments",
        "segments/_profile_panel.html",
        lambda session, user: {"segments": service.segments_of(session, user.external_id)},
    )
)


@router.get("/segments", name="dashboard.segments")
def segments_page(
    request: Request,
    session: DbSession,
    page: UsersReader,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    segments, next_cursor = service.list_segments(session, limit=PAGE_SIZE, cursor=cursor)
    return render(request, "segments/index.html", segments=segments, next_cursor=next_cursor)


@router.get("/segments/new", name="dashboard.segment_new")
def new_segment(request: Request, session: DbSession, page: Editor) -> Response:
    return _builder(request, session, None, {"definition": _json(EMPTY)}, {})


@router.post("/segments/new", name="dashboard.segment_create")
def create_segment(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    try:
        body = _parse(form)
        segment = service.create(
            session, name=body.name, description=body.description, definition=body.definition
        )
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, None, form, exc)
    return redirect(request, f"/dashboard/w/{page.workspace.id}/segments/{segment.id}?notice=segment-saved")


@router.post("/segments/preview", name="dashboard.segment_preview")
def preview(request: Request, session: DbSession, page: UsersReader, form: Form) -> Response:
    """htmx: the live count and a sample of the definition as the builder stands; a
    definition the API would refuse shows the API's message."""
    try:
        definition = service.prepare(session, _definition(form))
    except NudgeError as exc:
        return render(request, "segments/_audience.html", error=exc, result=None, sample=None)
    result = service.count(session, definition, PREVIEW_TIMEOUT_MS)
    sample = service.sample(session, definition, SAMPLE_SIZE)
    return render(request, "segments/_audience.html", error=None, result=result, sample=sample)


@router.get("/segments/{segment_id}", name="dashboard.segment")
def segment_page(request: Request, session: DbSession, page: UsersReader, segment_id: uuid.UUID) -> Response:
    segment = service.get(session, segment_id)
    values = {
        "name": segment.name,
        "description": segment.description or "",
        "definition": _json(authored(segment.definition)),
    }
    return _builder(request, session, segment, values, {})


@router.post("/segments/{segment_id}", name="dashboard.segment_update")
def update_segment(
    request: Request, session: DbSession, page: Editor, segment_id: uuid.UUID, form: Form
) -> Response:
    segment = service.get(session, segment_id)
    try:
        body = _parse(form)
        service.update(session, segment.id, body.model_dump())
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, segment, form, exc)
    return redirect(request, f"/dashboard/w/{page.workspace.id}/segments/{segment.id}?notice=segment-saved")


@router.post("/segments/{segment_id}/delete", name="dashboard.segment_delete")
def delete_segment(request: Request, session: DbSession, page: Editor, segment_id: uuid.UUID) -> Response:
    service.delete(session, segment_id)  # 409 page while another segment refers to it
    return redirect(request, f"/dashboard/w/{page.workspace.id}/segments?notice=segment-deleted")


# Helpers ----------------------------------------------------------------------------------------


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _definition(form: FormData) -> Any:
    raw = form.get("definition")
    try:
        return orjson.loads(raw if isinstance(raw, str) else "")
    except orjson.JSONDecodeError:
        raise Invalid("definition: not valid JSON", field="definition") from None


def _parse(form: FormData) -> SegmentIn:
    """The form as the API's body; raises FormErrors by input name."""
    text = {k: v.strip() for k in ("name", "description") if isinstance(v := form.get(k), str)}
    document = {"name": text.get("name", ""), "description": text.get("description") or None}
    document["definition"] = _definition(form)
    try:
        return SegmentIn.model_validate(document)
    except ValidationError as exc:
        raise errors_by_path(exc, document) from None


def _refused(
    request: Request, session: DbSession, segment: Segment | None, form: FormData, exc: Exception
) -> Response:
    if isinstance(exc, FormErrors):
        errors, status = exc.errors, 422
    else:
        assert isinstance(exc, NudgeError)
        field = exc.field or "form"
        # Definition errors keep the API's path (``definition.match.all[2].op``): the builder
        # marks that node, and the message is the API's own.
        errors = {"definition" if field.startswith("definition") else field: exc.message}
        errors["definition_path"] = field if field.startswith("definition") else ""
        status = exc.status
    values = {name: value for name, value in form.items() if isinstance(value, str)}
    return _builder(request, session, segment, values, errors, status)


def _builder(
    request: Request,
    session: DbSession,
    segment: Segment | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    """The builder page; the saved segments and campaigns it may refer to travel as JSON."""
    others = [
        {"id": str(s.id), "name": s.name}
        for s in session.scalars(select(Segment).order_by(Segment.name))
        if segment is None or s.id != segment.id
    ]
    campaigns = [
        {"id": str(c.id), "name": c.name}
        for c in session.scalars(select(Campaign).order_by(Campaign.created_at.desc()).limit(200))
    ]
    return render(
        request,
        "segments/builder.html",
        status,
        segment=segment,
        values=values,
        errors=errors,
        choices=_json({"segments": others, "campaigns": campaigns}),
    )
