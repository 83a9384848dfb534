"""API keys: every member sees the list (prefixes only); owners and admins create and revoke.
A new key's secret is shown once, on the page that answers the form."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.auth import service as keys
from app.dashboard.forms import Form, FormErrors, parse
from app.dashboard.routing import DashboardRoute, redirect
from app.dashboard.schemas import NewKey
from app.dashboard.templating import render
from app.dashboard.viewer import KeysAdmin, Page
from app.kit.session import DbSession

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)


@router.get("/keys", name="dashboard.keys")
def keys_page(request: Request, session: DbSession, page: Page) -> Response:
    return render(request, "workspaces/keys.html", keys=keys.list_keys(session), errors={}, values={})


@router.post("/keys", name="dashboard.keys_create")
def create_key(request: Request, session: DbSession, page: KeysAdmin, form: Form) -> Response:
    try:
        data = parse(NewKey, form)
    except FormErrors as exc:
        return render(
            request,
            "workspaces/keys.html",
            422,
            keys=keys.list_keys(session),
            errors=exc.errors,
            values=dict(form),
        )
    key, plaintext = keys.create_key(session, workspace_id=page.workspace.id, kind=data.kind, name=data.name)
    return render(
        request,
        "workspaces/keys.html",
        201,
        keys=keys.list_keys(session),
        errors={},
        values={},
        new_key=key,
        plaintext=plaintext,
    )


@router.post("/keys/{key_id}/revoke", name="dashboard.keys_revoke")
def revoke_key(request: Request, session: DbSession, page: KeysAdmin, key_id: uuid.UUID) -> Response:
    keys.revoke_key(session, key_id=key_id)
    return redirect(request, f"/dashboard/w/{page.workspace.id}/keys?notice=key-revoked")
