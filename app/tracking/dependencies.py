"""Loading a signed link's target: a bad token is a 404 (nothing to learn from it), a good
one scopes the request's session to the token's workspace."""

from __future__ import annotations

from fastapi import Request

from app.kit.db import scope_to_workspace
from app.kit.errors import NotFound
from app.kit.unit_of_work import unit_of_work
from app.tracking.links import LinkTarget, TrackingLinks


def tracking_links(request: Request) -> TrackingLinks:
    links = getattr(request.app.state, "tracking_links", None)
    if links is None:
        links = request.app.state.tracking_links = TrackingLinks(request.app.state.settings)
    return links


def load_target(request: Request, purpose: str, token: str) -> LinkTarget:
    target = tracking_links(request).verify(purpose, token)
    if target is None:
        raise NotFound("unknown link", field="token")
    scope_to_workspace(unit_of_work(request).session, target.workspace_id)
    return target
