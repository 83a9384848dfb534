"""The composer's live preview: a variant's content rendered for one real user of the
workspace through the same templating the dispatcher uses, and the names a template can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.kit.errors import Invalid, NudgeError
from app.models import User, Workspace
from app.templating.compiler import RenderFailed
from app.templating.content import compile_content
from app.templating.context import PROFILE_FIELDS, load_facts, render_context
from app.users.service import get as get_user

SAMPLE_USERS = 200  # attribute names come from this many recently seen users
PICKABLE_USERS = 20


@dataclass(frozen=True)
class Preview:
    user: User | None
    content: dict[str, Any]
    error: str | None = None
    field: str | None = None


def recent_users(session: Session, limit: int = PICKABLE_USERS) -> list[User]:
    return list(session.scalars(select(User).order_by(User.last_seen_at.desc(), User.id).limit(limit)))


def attribute_names(session: Session) -> list[str]:
    """Attribute keys found on recently seen users, to offer as ``user.attributes.<name>``."""
    rows = session.scalars(
        select(User.attributes).order_by(User.last_seen_at.desc(), User.id).limit(SAMPLE_USERS)
    )
    return sorted({key for attributes in rows if isinstance(attributes, dict) for key in attributes})


def insertable_names(session: Session) -> list[str]:
    """Every variable a marketer can insert: profile fields, then attributes."""
    return [f"user.{name}" for name in PROFILE_FIELDS] + [
        f"user.attributes.{name}" if name.isidentifier() else f"user.attributes[{name!r}]"
        for name in attribute_names(session)
    ]


def render_for(session: Session, workspace: Workspace, content: dict[str, Any], external_id: str) -> Preview:
    """``content`` as ``external_id`` (or the most recently seen user) would receive it."""
    try:
        user = get_user(session, external_id) if external_id else next(iter(recent_users(session, 1)), None)
    except NudgeError as exc:
        return Preview(None, {}, exc.message, "preview_user")
    try:
        compiled = compile_content(content)
    except Invalid as exc:
        return Preview(user, {}, exc.message, exc.field)
    facts = load_facts(session, [user.id], compiled.needs).get(user.id) if user else None
    try:
        rendered = compiled.render(render_context(user, facts=facts, workspace_zone=workspace.timezone))
    except RenderFailed as exc:
        return Preview(user, {}, f"cannot be rendered for this user: {exc}", "content")
    return Preview(user, rendered)
