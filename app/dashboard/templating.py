"""The Jinja environment (autoescaping everything) and the one function that renders a page."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.dashboard import csrf
from app.dashboard.charts import sparse_labels
from app.dashboard.navigation import sections

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PREFIX = "/dashboard/static"

# ``?notice=`` codes a redirect may carry; unknown codes show nothing (no text from the URL).
NOTICES = {
    "welcome": "Your workspace is ready. Create an API key to start sending users.",
    "workspace-created": "Workspace created.",
    "signed-out": "You are signed out.",
    "password-changed": "Password changed. Other devices were signed out.",
    "settings-saved": "Settings saved.",
    "key-revoked": "Key revoked. Calls made with it are refused from now on.",
    "role-changed": "Role changed.",
    "member-removed": "Member removed.",
    "invitation-revoked": "Invitation revoked.",
    "joined": "Welcome aboard: you joined this workspace.",
    "draft-saved": "Draft saved.",
    "variable-saved": "Variable saved. Apps get the new value within a second.",
    "campaign-launch": "Campaign launched.",
    "campaign-pause": "Campaign paused. Messages already sent stay sent.",
    "campaign-resume": "Campaign resumed where it stopped.",
    "campaign-cancel": "Campaign cancelled. Nothing more will be sent.",
    "segment-saved": "Segment saved.",
    "delivery-saved": "Delivery rules saved.",
    "provider-saved": "Credentials saved.",
    "provider-removed": "Credentials removed.",
    "segment-deleted": "Segment deleted.",
    "journey-saved": "Journey saved. A live journey got a new version; users in flight finish on theirs.",
    "journey-launch": "Journey live: users enter it from now on.",
    "journey-pause": "Journey paused: nobody enters or moves on until it is launched again.",
    "journey-archive": "Journey archived: users in flight left it.",
}


@lru_cache(maxsize=64)
def static_url(path: str) -> str:
    """A static file's URL with a content hash, so browsers cache it until it changes."""
    version = hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:10]
    return f"{STATIC_PREFIX}/{path}?v={version}"


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def as_json(value: Any) -> str:
    """A JSON value as readable text (escaped by the template like any other text)."""
    if isinstance(value, str):
        return value
    compact = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if len(compact) <= 60:
        return compact
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(when=when, ago=ago, json=as_json, percent=percent)
environment.globals.update(
    static=static_url,
    sparse_labels=sparse_labels,
    nav_sections=sections,
    notices=NOTICES,
    role_options=lambda roles: [(str(role), str(role).capitalize()) for role in roles],
)


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with what every page needs: the request, its CSRF token, URL
    building, and the signed-in operator's workspace context when there is one."""

    def url(name: str, **params: Any) -> str:
        return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))

    page = getattr(request.state, "page", None)
    html = environment.get_template(template).render(
        request=request,
        url=url,
        csrf_token=csrf.token_for(request),
        page=page,
        viewer=getattr(request.state, "viewer", None),
        notice=request.query_params.get("notice"),
        **context,
    )
    return HTMLResponse(html, status_code=status)
