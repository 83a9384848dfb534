"""The queries behind the users pages. All go through the ORM, so the session's workspace
scope filters them; the attribute match uses JSONB containment on Postgres so the GIN index
on ``users.attributes`` serves it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, literal, or_, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from app.kit.errors import Invalid, NotFound
from app.kit.pagination import decode_cursor, encode_cursor
from app.models import Event, User
from app.users.attributes import check_key

PAGE = 50
TIMELINE_PAGE = 50


@dataclass(frozen=True)
class Search:
    text: str = ""  # an external id (or its beginning) or an email
    attribute: str = ""
    value: str = ""

    @property
    def active(self) -> bool:
        return bool(self.text or self.attribute)


def run(session: Session, search: Search, *, cursor: str | None = None) -> tuple[list[User], str | None]:
    """Newest users first, filtered by ``search``; keyset-paged by id."""
    conditions: list[ColumnElement[bool]] = []
    if cursor:
        conditions.append(User.id < decode_cursor(cursor))
    if search.text:
        conditions.append(_text_matches(search.text))
    if search.attribute:
        check_key(search.attribute, "attribute")
        conditions.append(_attribute_equals(session, search.attribute, search.value))
    users = list(session.scalars(select(User).where(*conditions).order_by(User.id.desc()).limit(PAGE + 1)))
    next_cursor = encode_cursor(users[PAGE - 1].id) if len(users) > PAGE else None
    return users[:PAGE], next_cursor


def _text_matches(text: str) -> ColumnElement[bool]:
    lowered = text.lower()
    return or_(
        User.external_id == text,
        User.email == text,
        User.external_id.startswith(text, autoescape=True),
        func.lower(User.email).startswith(lowered, autoescape=True),
    )


def _attribute_equals(session: Session, name: str, raw: str) -> ColumnElement[bool]:
    """``name`` holds ``raw``: as text, as the number or boolean it spells, or inside a list.
    With no value: the user has the attribute at all."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if not raw:
        return User.attributes.op("?")(name) if postgres else User.attributes[name].is_not(None)
    if not postgres:
        return User.attributes[name].as_string() == raw
    candidates: list[Any] = [raw]
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, bool | int | float):
        candidates.append(parsed)
    documents = [{name: c} for c in candidates] + [{name: [c]} for c in candidates]
    return or_(*(User.attributes.op("@>")(literal(d, JSONB)) for d in documents))


def total(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get(session: Session, user_id: uuid.UUID) -> User:
    user = session.scalars(select(User).where(User.id == user_id)).first()
    if user is None:
        raise NotFound("no such user in this workspace", field="user_id")
    return user


def timeline(
    session: Session, user_id: uuid.UUID, *, before: str | None = None
) -> tuple[list[Event], str | None]:
    """The user's events, newest first; ``before`` is the cursor of the previous page."""
    conditions: list[ColumnElement[bool]] = [Event.user_id == user_id]
    if before:
        at, event_id = _decode_timeline_cursor(before)
        conditions.append(tuple_(Event.occurred_at, Event.id) < tuple_(at, event_id))
    events = list(
        session.scalars(
            select(Event)
            .where(and_(*conditions))
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(TIMELINE_PAGE + 1)
        )
    )
    if len(events) <= TIMELINE_PAGE:
        return events, None
    last = events[TIMELINE_PAGE - 1]
    return events[:TIMELINE_PAGE], f"{last.occurred_at.isoformat()}~{encode_cursor(last.id)}"


def _decode_timeline_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, _, event_id = cursor.partition("~")
    try:
        return datetime.fromisoformat(at), decode_cursor(event_id)
    except ValueError:
        raise Invalid("cursor is not one this page made", field="before") from None
