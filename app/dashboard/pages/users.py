"""Users: search by external id, email or an attribute; a profile with everything known."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.dashboard import panels, user_search
from app.dashboard.routing import DashboardRoute
from app.dashboard.templating import render
from app.dashboard.viewer import UsersReader
from app.devices.service import list_for_user
from app.kit.session import DbSession

router = APIRouter(prefix="/dashboard/w/{workspace_id}", route_class=DashboardRoute, include_in_schema=False)

Text = Annotated[str, Query(max_length=320)]


@router.get("/users", name="dashboard.users")
def users_page(
    request: Request,
    session: DbSession,
    page: UsersReader,
    q: Text = "",
    attribute: Annotated[str, Query(max_length=128)] = "",
    value: Text = "",
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    search = user_search.Search(text=q.strip(), attribute=attribute.strip(), value=value.strip())
    found, next_cursor = user_search.run(session, search, cursor=cursor)
    context = {
        "users": found,
        "next_cursor": next_cursor,
        "search": search,
        "total": user_search.total(session),
    }
    # htmx asks for the results only, as the operator types.
    template = "users/_results.html" if request.headers.get("hx-request") else "users/index.html"
    return render(request, template, **context)


@router.get("/users/{user_id}", name="dashboard.user")
def user_profile(
    request: Request,
    session: DbSession,
    page: UsersReader,
    user_id: uuid.UUID,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    user = user_search.get(session, user_id)
    events, older = user_search.timeline(session, user.id, before=before)
    return render(
        request,
        "users/profile.html",
        user=user,
        devices=list_for_user(session, user.id),
        events=events,
        older=older,
        panels=panels.load_profile_panels(session, user),
    )
