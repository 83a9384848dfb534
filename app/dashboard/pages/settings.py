"""Workspace settings: name and zone, delivery rules (quiet hours, frequency caps) and
provider credentials. Everyone in the workspace reads the page; owners and admins change
it, checked here on every change. Secrets are never sent back to the browser."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from app.credentials import service as credentials
from app.credentials.endpoints import credential_box
from app.dashboard import settings_forms
from app.dashboard.forms import Form, FormErrors, parse
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import WorkspaceForm
from app.dashboard.templating import render
from app.dashboard.viewer import Page, SettingsAdmin, WorkspacePage
from app.dashboard.zones import zone_choices
from app.delivery import policy
from app.kit.errors import NotFound
from app.kit.session import DbSession
from app.models.base import utcnow

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)


@router.get("/settings", name="dashboard.settings")
def settings_page(request: Request, session: DbSession, page: Page) -> Response:
    return _settings(request, session, page)


@router.post("/settings", name="dashboard.settings_submit")
def save_settings(request: Request, session: DbSession, page: SettingsAdmin, form: Form) -> Response:
    try:
        data = parse(WorkspaceForm, form)
    except FormErrors as exc:
        return _settings(request, session, page, 422, values=dict(form), errors=exc.errors)
    page.workspace.name = data.name
    page.workspace.timezone = data.timezone
    page.workspace.updated_at = utcnow()
    session.flush()
    return _back(request, page, "settings-saved")


@router.post("/settings/delivery", name="dashboard.settings_delivery")
def save_delivery(request: Request, session: DbSession, page: SettingsAdmin, form: Form) -> Response:
    current = policy.get(session)
    try:
        body = settings_forms.policy_from_form(form, current)
    except FormErrors as exc:
        values = {k: v for k, v in form.items() if k != "csrf_token"}
        return _settings(request, session, page, 422, policy_values=values, policy_errors=exc.errors)
    policy.put(session, body)
    return _back(request, page, "delivery-saved", "#delivery-title")


@router.post("/settings/providers/{provider}", name="dashboard.provider_save")
def save_provider(
    request: Request, session: DbSession, page: SettingsAdmin, provider: str, form: Form
) -> Response:
    spec = _provider(provider)
    box = credential_box(request)
    stored = credentials.load_all(session, box).get(provider)
    try:
        values = settings_forms.credentials_from_form(spec, form, stored)
    except FormErrors as exc:
        return _refused_provider(request, session, page, spec, form, exc.errors)
    credentials.save(session, box, provider, values)
    return _back(request, page, "provider-saved", f"#provider-{provider}")


@router.post("/settings/providers/{provider}/remove", name="dashboard.provider_remove")
def remove_provider(request: Request, session: DbSession, page: SettingsAdmin, provider: str) -> Response:
    credentials.remove(session, _provider(provider).key)
    return _back(request, page, "provider-removed", f"#provider-{provider}")


def _provider(key: str) -> settings_forms.Provider:
    spec = settings_forms.BY_KEY.get(key)
    if spec is None:
        raise NotFound(f"unknown provider {key!r}", field="provider")
    return spec


def _back(request: Request, page: WorkspacePage, notice: str, anchor: str = "") -> Response:
    return redirect(request, f"/dashboard/w/{page.workspace.id}/settings?notice={notice}{anchor}")


def _refused_provider(
    request: Request,
    session: DbSession,
    page: WorkspacePage,
    spec: settings_forms.Provider,
    form: FormData,
    errors: dict[str, str],
) -> Response:
    return _settings(
        request,
        session,
        page,
        422,
        provider_values=settings_forms.echoed(spec, form),
        provider_errors=errors,
        open_provider=spec.key,
    )


def _settings(
    request: Request,
    session: DbSession,
    page: WorkspacePage,
    status: int = 200,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    policy_values: dict[str, Any] | None = None,
    policy_errors: dict[str, str] | None = None,
    provider_values: dict[str, Any] | None = None,
    provider_errors: dict[str, str] | None = None,
    open_provider: str | None = None,
) -> Response:
    current = policy.get(session)
    admin = page.can("manage_settings")
    masked = credentials.masked_all(session)
    shown: dict[str, Any] = {}
    for spec in settings_forms.PROVIDERS:
        if admin and spec.key != open_provider:
            shown.update(settings_forms.shown_values(spec, masked.get(spec.key)))
    return render(
        request,
        "workspaces/settings.html",
        status,
        values=values or {"name": page.workspace.name, "timezone": page.workspace.timezone},
        errors=errors or {},
        zones=zone_choices(),
        policy=current,
        policy_values=policy_values or settings_forms.policy_values(current),
        policy_errors=policy_errors or {},
        cap_rows=range(settings_forms.cap_rows(current)),
        channels=settings_forms.CHANNELS,
        providers=settings_forms.PROVIDERS,
        # Masked values (a secret's last characters) are for the people who manage them.
        masked=masked if admin else {key: {} for key in masked},
        provider_values={**shown, **(provider_values or {})},
        provider_errors=provider_errors or {},
        open_provider=open_provider,
    )
