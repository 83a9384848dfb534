"""Open pixel, click redirect and one-click unsubscribe. No API key: the signed token is the
credential, and a tampered one is a 404."""

from __future__ import annotations

import base64
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app.auth.dependencies import SecretKey
from app.kit.errors import NotFound
from app.kit.session import DbSession
from app.kit.validators import Email
from app.tracking import service
from app.tracking.dependencies import load_target
from app.tracking.links import CLICK, OPEN, UNSUBSCRIBE, LinkTarget, is_trackable_url

router = APIRouter(prefix="/t", tags=["tracking"], include_in_schema=False)

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _record(session: Session, target: LinkTarget, kind: str) -> None:
    """An open or click of a user who still exists (an erased user's old links record nothing)."""
    if service.user_exists(session, target.user_id):
        service.record_engagement(
            session,
            user_id=target.user_id,
            delivery_id=target.delivery_id,
            channel=target.channel,
            kind=kind,
            url=target.url if kind == "click" else None,
        )


@router.get("/o/{token}")
def open_pixel(token: str, request: Request, session: DbSession) -> Response:
    _record(session, load_target(request, OPEN, token), "open")
    return Response(_PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/c/{token}")
def click(token: str, request: Request, session: DbSession) -> Response:
    target = load_target(request, CLICK, token)
    if target.url is None or not is_trackable_url(target.url):
        raise NotFound("unknown link", field="token")
    _record(session, target, "click")
    return RedirectResponse(target.url, status_code=302, headers=_NO_STORE)


@router.post("/u/{token}")
def one_click_unsubscribe(token: str, request: Request, session: DbSession) -> Response:
    """RFC 8058: the mailbox provider POSTs ``List-Unsubscribe=One-Click``; the preference
    page's button posts here too. Unsubscribes from the message's category, or the channel."""
    target = load_target(request, UNSUBSCRIBE, token)
    if service.user_exists(session, target.user_id):
        service.set_preference(
            session,
            user_id=target.user_id,
            channel=target.channel,
            category=target.category,
            subscribed=False,
        )
        service.record_engagement(
            session,
            user_id=target.user_id,
            delivery_id=target.delivery_id,
            channel=target.channel,
            kind="unsubscribe",
        )
    return Response("You are unsubscribed.\n", media_type="text/plain", headers=_NO_STORE)


api = APIRouter(prefix="/v1/email", tags=["email"])


class EmailEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["bounce", "complaint"]
    email: Email
    hard: bool = Field(default=True, description="Soft bounces are recorded by the provider, not suppressed")
    detail: str | None = Field(default=None, max_length=500)


class EmailEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EmailEvent] = Field(min_length=1, max_length=1000)


class EmailEventsOut(BaseModel):
    suppressed: int


@api.post(
    "/events", response_model=EmailEventsOut, summary="Bounces and complaints reported by the email provider"
)
def email_events(body: EmailEvents, session: DbSession, _auth: SecretKey) -> EmailEventsOut:
    """Hard bounces and complaints suppress the address; a complaint also unsubscribes every
    user with that address from email."""
    suppressed = 0
    for event in body.events:
        if event.type == "bounce" and not event.hard:
            continue
        service.suppress_email(session, email=event.email, reason=event.type, detail=event.detail)
        suppressed += 1
        if event.type == "complaint":
            service.unsubscribe_address(session, email=event.email)
    return EmailEventsOut(suppressed=suppressed)
