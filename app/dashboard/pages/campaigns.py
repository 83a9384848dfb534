"""Campaigns: the list, the composer (saved as a draft at any step, with a live preview for a
real user and the per-zone wave), and the campaign page with its life-cycle actions. Every
change goes through app.campaigns.service, exactly as the API does."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from starlette.responses import Response

from app.campaigns import preview as schedule_preview
from app.campaigns import service
from app.campaigns.schemas import Audience, CampaignUpdate, Schedule
from app.channels.test_sends import TestSend, send_test
from app.dashboard import campaign_form, charts, content_preview
from app.dashboard.forms import Form, FormErrors, field_error
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.templating import render
from app.dashboard.viewer import Page, WorkspacePage, requires
from app.kit.error_handlers import error_field
from app.kit.errors import Conflict, NotFound, NudgeError
from app.kit.session import DbSession
from app.kit.unit_of_work import unit_of_work
from app.models import Campaign, CampaignStatus, Segment
from app.models.base import utcnow
from app.operators.permissions import Permission

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

Editor = Annotated[WorkspacePage, Depends(requires(Permission.edit_messaging))]
Launcher = Annotated[WorkspacePage, Depends(requires(Permission.launch))]
PAGE_SIZE = 50
ACTIONS = ("launch", "pause", "resume", "cancel")


@router.get("/campaigns", name="dashboard.campaigns")
def campaigns_page(
    request: Request,
    session: DbSession,
    page: Page,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    campaigns, next_cursor = service.list_campaigns(session, limit=PAGE_SIZE, cursor=cursor, status=None)
    counts = {c.id: service.delivery_counts(session, c.id) for c in campaigns}
    return render(
        request, "campaigns/index.html", campaigns=campaigns, counts=counts, next_cursor=next_cursor
    )


@router.get("/campaigns/new", name="dashboard.campaign_new")
def new_campaign(request: Request, session: DbSession, page: Editor) -> Response:
    return _composer(request, session, None, campaign_form.values_from_document({}), {})


@router.post("/campaigns/new", name="dashboard.campaign_create")
def create_campaign(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    document = campaign_form.document_from_form(form)
    try:
        campaign = service.create(session, campaign_form.validate(document))
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, None, form, exc)
    return _after_save(request, page, campaign, form)


@router.get("/campaigns/{campaign_id}/edit", name="dashboard.campaign_edit")
def edit_campaign(request: Request, session: DbSession, page: Editor, campaign_id: uuid.UUID) -> Response:
    campaign = _draft(session, campaign_id)
    values = campaign_form.values_from_document(campaign_form.document_of(campaign))
    return _composer(request, session, campaign, values, {})


@router.post("/campaigns/{campaign_id}/edit", name="dashboard.campaign_update")
def update_campaign(
    request: Request, session: DbSession, page: Editor, campaign_id: uuid.UUID, form: Form
) -> Response:
    campaign = _draft(session, campaign_id)
    document = campaign_form.document_from_form(form)
    document.setdefault("goal", None)  # a cleared goal is removed
    try:
        campaign_form.validate(document)
        campaign = service.update_campaign(session, campaign.id, CampaignUpdate.model_validate(document))
    except (FormErrors, NudgeError) as exc:
        return _refused(request, session, campaign, form, exc)
    return _after_save(request, page, campaign, form)


@router.post("/campaigns/preview", name="dashboard.campaign_preview")
def preview_content(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    """htmx: one variant rendered for one user, as the composer's inputs stand."""
    document = campaign_form.document_from_form(form)
    slot = form.get("preview_variant")
    index = int(slot) if isinstance(slot, str) and slot.isdigit() else 0
    variants = document["variants"]
    variant = variants[min(index, len(variants) - 1)]
    external_id = str(form.get("preview_user") or "").strip()
    shown = content_preview.render_for(session, page.workspace, variant["content"], external_id)
    return render(request, "campaigns/_preview.html", channel=document["channel"], shown=shown)


@router.post("/campaigns/wave", name="dashboard.campaign_wave")
def preview_wave(request: Request, session: DbSession, page: Editor, form: Form) -> Response:
    """htmx: the per-zone wave of the schedule and audience as the composer's inputs stand."""
    document = campaign_form.document_from_form(form)
    try:
        draft = Campaign(
            id=uuid.uuid4(),
            audience=TypeAdapter(Audience).validate_python(document["audience"]).model_dump(mode="json"),
            schedule=TypeAdapter(Schedule).validate_python(document["schedule"]).model_dump(mode="json"),
            launched_at=None,
        )
    except ValidationError:
        return render(
            request, "campaigns/_wave.html", wave=None, wave_error="Complete the schedule to see it."
        )
    return render(request, "campaigns/_wave.html", **_wave(session, draft))


@router.get("/campaigns/{campaign_id}", name="dashboard.campaign")
def campaign_page(request: Request, session: DbSession, page: Page, campaign_id: uuid.UUID) -> Response:
    return _campaign_page(request, session, service.get(session, campaign_id))


@router.post("/campaigns/{campaign_id}/test-send", name="dashboard.campaign_test_send")
async def test_send(
    request: Request, session: DbSession, page: Editor, campaign_id: uuid.UUID, form: Form
) -> Response:
    """One variant, sent now to a few users (and raw addresses, for email) outside the ledger."""
    campaign = service.get(session, campaign_id)
    key = form.get("test_variant")
    variant = next((v for v in campaign.variants if v["key"] == key), campaign.variants[0])
    recipients = str(form.get("test_recipients") or "").replace(",", " ").split()
    emails = [r for r in recipients if "@" in r] if campaign.channel == "email" else []
    state = request.app.state
    try:
        body = TestSend(
            channel=campaign.channel,  # type: ignore[arg-type]
            content=variant["content"],
            external_ids=[r for r in recipients if r not in emails],
            emails=emails,
        )
        if not recipients:
            raise FormErrors({"test_recipients": "Name at least one user."})
        results = await send_test(
            session, body, workspace_id=page.workspace.id, settings=state.settings, database=state.database
        )
    except ValidationError as exc:
        return _campaign_page(request, session, campaign, 422, test_errors={"test_recipients": _first(exc)})
    except FormErrors as exc:
        return _campaign_page(request, session, campaign, 422, test_errors=exc.errors)
    except NudgeError as exc:
        error = {"test_recipients": exc.message[:1].upper() + exc.message[1:] + "."}
        return _campaign_page(request, session, campaign, exc.status, test_errors=error)
    return _campaign_page(request, session, campaign, test_results=results)


@router.post("/campaigns/{campaign_id}/{action}", name="dashboard.campaign_action")
def campaign_action(
    request: Request, session: DbSession, page: Launcher, campaign_id: uuid.UUID, action: str
) -> Response:
    now = utcnow()
    jobs = []
    if action == "launch":
        _campaign, jobs = service.launch(session, campaign_id, now=now)
    elif action == "pause":
        service.pause(session, campaign_id)
    elif action == "resume":
        _campaign, jobs = service.resume(session, campaign_id, settings=request.app.state.settings, now=now)
    elif action == "cancel":
        _campaign, jobs = service.cancel(session, campaign_id, now=now)
    else:
        raise NotFound("no such action", field="action")
    unit_of_work(request).jobs.extend(jobs)  # sent after the commit
    return redirect(
        request, f"/dashboard/w/{page.workspace.id}/campaigns/{campaign_id}?notice=campaign-{action}"
    )


# Helpers ----------------------------------------------------------------------------------------


def _campaign_page(
    request: Request, session: DbSession, campaign: Campaign, status: int = 200, **extra: Any
) -> Response:
    context = {"test_errors": {}, "test_results": None, **extra}
    return render(
        request,
        "campaigns/show.html",
        status,
        campaign=campaign,
        counts=service.delivery_counts(session, campaign.id),
        actions=_actions(campaign.status),
        **_wave(session, campaign),
        **context,
    )


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = error_field(error)
    return f"{where}: {error.get('msg', 'invalid value')}."


def _draft(session: DbSession, campaign_id: uuid.UUID) -> Campaign:
    campaign = service.get(session, campaign_id)
    if campaign.status != CampaignStatus.draft:
        raise Conflict("only drafts can be edited; this campaign is launched", field="status")
    return campaign


def _after_save(request: Request, page: WorkspacePage, campaign: Campaign, form: Any) -> Response:
    base = f"/dashboard/w/{page.workspace.id}/campaigns/{campaign.id}"
    if form.get("next") == "review":
        return redirect(request, base)
    return redirect(request, f"{base}/edit?notice=draft-saved")


def _refused(
    request: Request, session: DbSession, campaign: Campaign | None, form: Any, exc: Exception
) -> Response:
    errors = exc.errors if isinstance(exc, FormErrors) else _beside_field(exc)  # type: ignore[arg-type]
    values = {name: value for name, value in form.multi_items()}
    values["schedule.weekdays"] = [int(d) for d in form.getlist("schedule.weekdays") if str(d).isdigit()]
    status = exc.status if isinstance(exc, NudgeError) else 422
    return _composer(request, session, campaign, values, errors, status)


def _beside_field(exc: NudgeError) -> dict[str, str]:
    """A service's refusal shown at its input, without repeating the field's path."""
    errors = field_error(exc).errors
    shown = {name: message.removeprefix(f"{name}: ") for name, message in errors.items()}
    return {name: message[:1].upper() + message[1:] for name, message in shown.items()}


def _composer(
    request: Request,
    session: DbSession,
    campaign: Campaign | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render(
        request,
        "campaigns/composer.html",
        status,
        campaign=campaign,
        values=values,
        errors=errors,
        content_fields=campaign_form.CONTENT_FIELDS,
        slots=range(campaign_form.VARIANT_SLOTS),
        keys=campaign_form.VARIANT_KEYS,
        shown=campaign_form.shown_slots(values),
        slot_options=[(str(i), key) for i, key in enumerate(campaign_form.VARIANT_KEYS)],
        segments=[(str(s.id), s.name) for s in session.scalars(select(Segment).order_by(Segment.name))],
        insertable=content_preview.insertable_names(session),
        users=content_preview.recent_users(session),
    )


def _wave(session: DbSession, campaign: Campaign) -> dict[str, Any]:
    try:
        wave = schedule_preview.preview(session, campaign, now=utcnow())
    except NudgeError as exc:
        return {"wave": None, "wave_error": exc.message}
    return {"wave": wave, "bars": charts.wave_bars(wave["hours"]), "wave_error": None}


def _actions(status: str) -> list[str]:
    allowed = {
        CampaignStatus.draft: ("launch", "cancel"),
        CampaignStatus.scheduled: ("cancel",),
        CampaignStatus.running: ("pause", "cancel"),
        CampaignStatus.paused: ("resume", "cancel"),
    }
    return [action for action in ACTIONS if action in allowed.get(CampaignStatus(status), ())]
