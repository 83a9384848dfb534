"""Outbox: the emails embedded mode kept instead of sending (no SMTP server configured), newest
first, each viewable as the recipient would see it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.channels.email import outbox
from app.dashboard.routing import DashboardRoute
from app.dashboard.templating import render
from app.dashboard.viewer import UsersReader
from app.kit.errors import NotFound

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)


@router.get("/outbox", name="dashboard.outbox")
def outbox_page(request: Request, page: UsersReader) -> Response:
    settings = request.app.state.settings
    emails = outbox.latest(settings.outbox_dir, page.workspace.id)
    return render(request, "outbox/index.html", emails=emails, embedded=settings.is_sqlite)


@router.get("/outbox/{delivery_id}", name="dashboard.outbox_email")
def outbox_email(request: Request, page: UsersReader, delivery_id: uuid.UUID) -> Response:
    found = outbox.one(request.app.state.settings.outbox_dir, page.workspace.id, delivery_id)
    if found is None:
        raise NotFound("no such email in this workspace's outbox", field="delivery_id")
    return render(request, "outbox/email.html", email=found)
