"""The preference page behind a signed link (no login: the link is the credential), the
unsubscribe landing page, and the API to read and change a user's preferences."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.dependencies import SecretKey
from app.kit.errors import NotFound
from app.kit.session import DbSession
from app.models import User
from app.preferences import service
from app.preferences.page import LABELS, render_page
from app.tracking.dependencies import load_target, tracking_links
from app.tracking.links import PREFERENCES, UNSUBSCRIBE, LinkTarget
from app.tracking.service import set_preference
from app.users.endpoints import ExternalIdPath
from app.users.service import get as get_user

router = APIRouter(tags=["preferences"])
_HTML_HEADERS = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}
MAX_FORM_BYTES = 64 * 1024

Category = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


def _user(session: DbSession, target: LinkTarget) -> User:
    user = session.get(User, (target.workspace_id, target.user_id))
    if user is None:
        raise NotFound("unknown link", field="token")
    return user


@router.get("/t/u/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(token: str, request: Request, session: DbSession) -> HTMLResponse:
    """Following the link only shows the page: link scanners must not unsubscribe anyone."""
    target = load_target(request, UNSUBSCRIBE, token)
    user = _user(session, target)
    links = tracking_links(request)
    what = (
        f"“{target.category}” messages" if target.category else LABELS.get(target.channel, "messages").lower()
    )
    page = render_page(
        service.for_user(session, user),
        preferences_action=links.preferences_url(target.workspace_id, target.user_id),
        unsubscribe_action=str(request.url),
        unsubscribe_what=what,
    )
    return HTMLResponse(page, headers=_HTML_HEADERS)


@router.get("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
def preferences_page(token: str, request: Request, session: DbSession) -> HTMLResponse:
    target = load_target(request, PREFERENCES, token)
    page = render_page(service.for_user(session, _user(session, target)), preferences_action=str(request.url))
    return HTMLResponse(page, headers=_HTML_HEADERS)


@router.post("/preferences/{token}", response_class=HTMLResponse, include_in_schema=False)
async def save_preferences_page(token: str, request: Request, session: DbSession) -> HTMLResponse:
    target = load_target(request, PREFERENCES, token)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise NotFound("unknown link", field="token")
    checked = {name for name, _ in parse_qsl(body.decode("utf-8", "replace"))}
    user = _user(session, target)
    current = service.for_user(session, user)
    for channel in service.CHANNELS:
        set_preference(
            session,
            user_id=user.id,
            channel=channel,
            category=None,
            subscribed=f"channel:{channel}" in checked,
        )
        for category in current.categories.get(channel, {}):
            on = f"category:{channel}:{category}" in checked
            set_preference(session, user_id=user.id, channel=channel, category=category, subscribed=on)
    session.expire(user)
    page = render_page(service.for_user(session, user), preferences_action=str(request.url), note="Saved.")
    return HTMLResponse(page, headers=_HTML_HEADERS)


class PreferencesOut(BaseModel):
    channels: dict[str, bool]
    categories: dict[str, dict[str, bool]]
    preferences_url: str


class PreferenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern=r"^(email|push|in_app)$")
    category: Category | None = Field(default=None, description="Omit for the whole channel")
    subscribed: bool


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: list[PreferenceChange] = Field(min_length=1, max_length=100)


def _out(request: Request, session: DbSession, user: User) -> PreferencesOut:
    prefs = service.for_user(session, user)
    url = tracking_links(request).preferences_url(user.workspace_id, user.id)
    return PreferencesOut(channels=prefs.channels, categories=prefs.categories, preferences_url=url)


@router.get(
    "/v1/users/{external_id}/preferences", response_model=PreferencesOut, summary="A user's preferences"
)
def get_preferences(
    external_id: ExternalIdPath, request: Request, session: DbSession, _auth: SecretKey
) -> PreferencesOut:
    return _out(request, session, get_user(session, external_id))


@router.patch(
    "/v1/users/{external_id}/preferences", response_model=PreferencesOut, summary="Change preferences"
)
def update_preferences(
    external_id: ExternalIdPath,
    body: PreferencesUpdate,
    request: Request,
    session: DbSession,
    _auth: SecretKey,
) -> PreferencesOut:
    user = get_user(session, external_id)
    for change in body.changes:
        set_preference(
            session,
            user_id=user.id,
            channel=change.channel,
            category=change.category,
            subscribed=change.subscribed,
        )
    session.flush()
    session.expire(user)
    return _out(request, session, user)
