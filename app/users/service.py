"""Users: upsert by external id, reads, erasure (ingest's bulk path is in ``seen``)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.db import current_workspace
from app.kit.errors import NotFound
from app.kit.ids import uuid7
from app.kit.pagination import decode_cursor, encode_cursor
from app.models import (
    Campaign,
    ContentExposure,
    Delivery,
    Device,
    Engagement,
    Event,
    FrequencyState,
    InboxItem,
    Preference,
    TriggerEntry,
    User,
    UserErasure,
)
from app.models.base import utcnow
from app.users import attributes
from app.users.attributes import AttributeChanges

_STATUS_COLUMNS = {"email": "email_status", "push": "push_status", "in_app": "in_app_status"}
LIST_FILTERS = ("email", "country", "timezone", "locale")


def get(session: Session, external_id: str) -> User:
    user = session.scalars(select(User).where(User.external_id == external_id)).first()
    if user is None:
        raise NotFound(f"no user with external_id {external_id!r}", field="external_id")
    return user


def upsert(
    session: Session,
    external_id: str,
    *,
    profile: Mapping[str, Any],
    changes: AttributeChanges,
    subscriptions: Mapping[str, str] | None = None,
) -> tuple[User, bool]:
    """Create or update one user; concurrent upserts of one user are serialised by a row lock.

    FOR NO KEY UPDATE: the key never changes, so events being stored for this user (whose
    foreign key takes a key-share lock) need not wait for the upsert's commit."""
    if sql.is_postgres(session) and attributes.merge_only(changes):
        user = _merge_in_place(session, external_id, profile, changes, subscriptions or {})
        if user is not None:
            return user, False
    locked = select(User).where(User.external_id == external_id).with_for_update(key_share=True)
    user = session.scalars(locked).first()
    created = False
    if user is None:
        now = utcnow()
        inserted = session.execute(
            sql.insert(session, User)
            .values(new_user_row(current_workspace(session), external_id, now, now, now))
            .on_conflict_do_nothing()
            .returning(User.id)
        ).first()
        created = inserted is not None
        user = session.scalars(locked).one()
    for name, value in profile.items():
        setattr(user, name, value)
    if not changes.is_empty():
        user.attributes = attributes.apply(user.attributes, changes)
    for channel, state in (subscriptions or {}).items():
        setattr(user, _STATUS_COLUMNS[channel], state)
    user.updated_at = utcnow()
    session.flush()
    return user, created


def _merge_in_place(
    session: Session,
    external_id: str,
    profile: Mapping[str, Any],
    changes: AttributeChanges,
    subscriptions: Mapping[str, str],
) -> User | None:
    """An existing user updated by one ``UPDATE ... RETURNING`` (the row lock and the write in
    one round trip): the attributes merge in Postgres (``||`` sets keys, ``-`` deletes those set
    to null); the limits are checked on the result, and refusing rolls the request back.
    None when the user does not exist yet.

    On the driver's cursor, filtered on workspace_id itself: the ORM's UPDATE cost several
    times the statement's own time in Python on every upsert. The user comes back as a
    transient ``User`` holding the updated row (read-only: the row is already written)."""
    values: dict[str, Any] = {**profile, "updated_at": utcnow()}
    values.update({_STATUS_COLUMNS[channel]: state for channel, state in subscriptions.items()})
    statement = _merge_statement(tuple(values), merge=bool(changes.set))
    values.update(workspace=current_workspace(session), external_id=external_id)
    if changes.set:
        for key in changes.set:
            attributes.check_key(key, "attributes")
        kept = {key: value for key, value in changes.set.items() if value is not None}
        values["kept"] = orjson.dumps(kept).decode()
        values["dropped"] = [key for key, value in changes.set.items() if value is None]
    with sql.pg_cursor(session) as cur:
        cur.row_factory = dict_row
        cur.execute(statement, values)
        row = cur.fetchone()
    if row is None:
        return None
    row["attributes"] = orjson.loads(row["attributes"])
    user = User(**row)
    if changes.set:
        attributes.check_limits(user.attributes)
    return user


_USER_COLUMNS = tuple(column.name for column in User.__table__.columns)
# The attributes as text, parsed with orjson (the driver's JSON parsing is slower).
_RETURNING = pgsql.SQL(", ").join(
    pgsql.SQL("attributes::text AS attributes") if name == "attributes" else pgsql.Identifier(name)
    for name in _USER_COLUMNS
)
_MERGE = pgsql.SQL("attributes = (attributes || %(kept)s::jsonb) - %(dropped)s::text[]")


@functools.cache
def _merge_statement(columns: tuple[str, ...], *, merge: bool) -> str:
    """The UPDATE setting ``columns`` (users' own columns, each from the parameter of the same
    name) and, with ``merge``, merging the attributes; rendered once per shape."""
    assignments = [pgsql.SQL("{} = {}").format(pgsql.Identifier(c), pgsql.Placeholder(c)) for c in columns]
    if merge:
        assignments.append(_MERGE)
    statement = pgsql.SQL(
        "UPDATE users SET {} WHERE workspace_id = %(workspace)s AND external_id = %(external_id)s"
        " RETURNING {}"
    ).format(pgsql.SQL(", ").join(assignments), _RETURNING)
    return statement.as_string()


def new_user_row(
    workspace_id: uuid.UUID, external_id: str, first_seen: datetime, last_seen: datetime, now: datetime
) -> dict[str, Any]:
    """A new user's columns: no profile yet, subscribed to every channel."""
    return {
        "workspace_id": workspace_id,
        "id": uuid7(),
        "external_id": external_id,
        "first_seen_at": first_seen,
        "last_seen_at": last_seen,
        "attributes": {},
        "email_status": "subscribed",
        "push_status": "subscribed",
        "in_app_status": "subscribed",
        "created_at": now,
        "updated_at": now,
    }


def list_users(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    filters: Mapping[str, str],
    attribute_filters: Mapping[str, str],
) -> tuple[list[User], str | None]:
    conditions: list[ColumnElement[bool]] = []
    if cursor:
        conditions.append(User.id > decode_cursor(cursor))
    for name, value in filters.items():
        conditions.append(getattr(User, name) == value)
    for name, value in attribute_filters.items():
        attributes.check_key(name, "attr")
        conditions.append(User.attributes[name].as_string() == value)
    users = list(session.scalars(select(User).where(*conditions).order_by(User.id).limit(limit + 1)))
    next_cursor = encode_cursor(users[limit - 1].id) if len(users) > limit else None
    return users[:limit], next_cursor


# Every table holding rows about one user, by ``user_id``: exported and erased together.
_USER_ROWS: dict[str, type[Any]] = {
    "events": Event,
    "devices": Device,
    "deliveries": Delivery,
    "inbox_items": InboxItem,
    "engagements": Engagement,
    "preferences": Preference,
    "trigger_entries": TriggerEntry,
    "content_exposures": ContentExposure,
}


def _rows_of(table: type[Any], user: User) -> ColumnElement[bool]:
    """The rows of ``table`` about ``user``. The ledger has no index leading with the user (a
    million-row snapshot would pay for it on every row); its key (workspace, campaign, user,
    send) is probed once per campaign of the workspace instead of the ledger being scanned."""
    if table is Delivery:
        campaigns = select(Campaign.id).where(Campaign.workspace_id == user.workspace_id)
        return and_(Delivery.campaign_id.in_(campaigns), Delivery.user_id == user.id)
    return table.user_id == user.id


def erase(session: Session, external_id: str) -> tuple[int, int]:
    """Erase a user and every row holding their id (events, devices, deliveries, inbox,
    engagements, preferences, trigger and frequency state); keep only anonymous counts.
    Deleted explicitly: the ledger and frequency state have no foreign keys to cascade."""
    user = get(session, external_id)
    events = session.scalar(select(func.count()).select_from(Event).where(Event.user_id == user.id)) or 0
    devices = session.scalar(select(func.count()).select_from(Device).where(Device.user_id == user.id)) or 0
    for table in _USER_ROWS.values():
        session.execute(delete(table).where(_rows_of(table, user)))
    session.execute(delete(FrequencyState).where(FrequencyState.id == user.id))  # keyed by the user id
    session.delete(user)
    session.add(
        UserErasure(workspace_id=user.workspace_id, erased_at=utcnow(), events=events, devices=devices)
    )
    session.flush()
    return events, devices


def export(session: Session, external_id: str) -> dict[str, Any]:
    """Everything stored about one user (data-subject access), as plain JSON-ready values:
    the same rows ``erase`` deletes, each list oldest first (ids are time-ordered)."""
    user = get(session, external_id)
    exported: dict[str, Any] = {"user": _columns(user)}
    for key, table in _USER_ROWS.items():
        rows = session.scalars(select(table).where(_rows_of(table, user)).order_by(table.id))
        exported[key] = [_columns(row) for row in rows]
    frequency = session.get(FrequencyState, (user.workspace_id, user.id))
    exported["frequency_state"] = _columns(frequency) if frequency is not None else None
    return exported


def _columns(row: Any) -> dict[str, Any]:
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
