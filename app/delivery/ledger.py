"""The delivery ledger's hot statements: claim a chunk, write outcomes in bulk, reclaim leases.

Core statements on the table (no ORM objects: a chunk is a thousand rows), each filtering on
``workspace_id`` itself.

On Postgres a claim writes nothing: it locks the chunk's ``queued`` rows (``FOR UPDATE SKIP
LOCKED``) and the dispatching transaction holds them through the send, so each row is written
once, with its outcome. If the worker dies the server rolls the transaction back and the rows
are ``queued`` again at once, unchanged. SQLite has no row locks and serialises writers, so
there a claim moves rows to ``sending`` under a lease, committed before the send, and an
outcome is written only while the row is still ``sending`` under the claimer's own lease (a
worker that lost its lease cannot overwrite the row's next life).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from app.kit import sql
from app.kit.ids import uuid7_floor
from app.models import Delivery, DeliveryStatus, Send, SendStatus, User

D = Delivery.__table__
U = User.__table__
UNFINISHED = (DeliveryStatus.queued, DeliveryStatus.sending)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# The user columns a claim returns (the claim's SQL lists them in this order).
USER_FIELDS = (
    "external_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "country",
    "region",
    "city",
    "first_name",
    "last_name",
    "email_status",
    "push_status",
    "in_app_status",
)


# Not frozen: a chunk builds a thousand of each, and a frozen dataclass sets every field
# through object.__setattr__ (seven times slower to build, about 2 µs a row for the two).
@dataclass(slots=True)
class Recipient:
    """What dispatch needs of a user: address fields, subscriptions, zone, template data."""

    external_id: str
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    country: str | None
    region: str | None
    city: str | None
    first_name: str | None
    last_name: str | None
    email_status: str
    push_status: str
    in_app_status: str
    attributes: dict[str, Any]


@dataclass(slots=True)
class Claimed:
    id: uuid.UUID
    user_id: uuid.UUID
    due_at: datetime
    expires_at: datetime | None
    attempts: int
    event_id: uuid.UUID | None  # the triggering event, for triggered sends
    user: Recipient | None  # None: erased since planning


_ROW = (D.c.id, D.c.user_id, D.c.due_at, D.c.expires_at, D.c.attempts, D.c.event_id)
# Attributes travel as text and are parsed with orjson (the driver's JSON parsing is slower).
_USER = (*(U.c[name] for name in USER_FIELDS), cast(U.c.attributes, Text))

# Hot statements go through a binary cursor (sql.pg_cursor): ids, instants and arrays travel
# without text formatting and parsing, a noticeable share of a chunk's Python time. Arrays of
# ids are passed in binary (``%(ids)b``): as text, psycopg formats and quote-checks each
# element, about 3 µs a row for each such array.
# The attempt a claim returns is the one being made (stored with the outcome, see write()).
_CLAIM_POSTGRES = """
    WITH picked AS MATERIALIZED (
        SELECT id, user_id, due_at, expires_at, attempts, event_id FROM deliveries
        WHERE workspace_id = %(workspace_id)s AND send_id = %(send_id)s
          AND status = 'queued' AND due_at <= %(now)s
          AND (due_at, id) > (%(after_due)s, %(after_id)s)
        ORDER BY due_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    SELECT p.id, p.user_id, p.due_at, p.expires_at, p.attempts + 1, p.event_id,
        u.external_id, u.email, u.phone, u.timezone, u.locale, u.country, u.region, u.city,
        u.first_name, u.last_name,
        u.email_status, u.push_status, u.in_app_status, u.attributes::text
    FROM picked AS p LEFT JOIN users AS u ON u.workspace_id = %(workspace_id)s AND u.id = p.user_id
    """


def _claimed(row: Any, user: Any) -> Claimed:
    if user[0] is None:  # the user was erased after planning
        return Claimed(*row, user=None)
    attributes = orjson.loads(user[-1]) if user[-1] else {}
    return Claimed(*row, user=Recipient(*user[:-1], attributes))


Position = tuple[datetime, uuid.UUID]  # (due_at, id): where a lane's last chunk ended
START: Position = (datetime(1970, 1, 1, tzinfo=UTC), uuid.UUID(int=0))


def claim(
    session: Session,
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    after: Position = START,
) -> list[Claimed]:
    """Claim up to ``limit`` due queued rows, earliest due first, and return them with their
    users: on Postgres locked until the session's transaction ends (see ``holds_claims``), on
    SQLite moved to ``sending`` under a lease.

    The order (due_at, id) is that of the partial index of queued rows, so the claim is a
    range scan of it; ``SKIP LOCKED`` lets parallel lanes take disjoint chunks without waiting.
    A lane continues ``after`` its last chunk: index entries of rows already claimed linger
    until vacuum, and scanning them from the start every time would make a send quadratic.
    Rows that become queued again always move past every lane's position (a later due_at).
    """
    if _is_postgres(session):  # one round trip: the users come back with the claim
        params = {"workspace_id": workspace_id, "send_id": send_id, "now": now, "limit": limit}
        params |= {"after_due": after[0], "after_id": after[1]}
        cursor = sql.pg_cursor(session)
        cursor.execute(_CLAIM_POSTGRES, params)
        return [_claimed(row[:6], row[6:]) for row in cursor.fetchall()]  # fetchall: rows in one call
    return _claim_sqlite(
        session.connection(),
        workspace_id,
        send_id,
        now=now,
        lease_until=lease_until,
        limit=limit,
        after=after,
    )


def holds_claims(session: Session) -> bool:
    """Whether claimed rows stay locked by the claiming transaction instead of being leased: then
    the send and the outcomes belong in that same transaction."""
    return _is_postgres(session)


def last_position(claimed: Sequence[Claimed]) -> Position:
    return max((c.due_at, c.id) for c in claimed)


def _claim_sqlite(
    connection: Any,
    workspace_id: uuid.UUID,
    send_id: uuid.UUID,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    after: Position,
) -> list[Claimed]:
    """SQLite serialises writers, so no row locks; and its RETURNING cannot name a joined table."""
    picked = (
        select(D.c.id)
        .where(
            D.c.workspace_id == workspace_id,
            D.c.send_id == send_id,
            D.c.status == DeliveryStatus.queued,
            D.c.due_at <= now,
            tuple_(D.c.due_at, D.c.id)
            > tuple_(literal(after[0], D.c.due_at.type), literal(after[1], D.c.id.type)),
        )
        .order_by(D.c.due_at, D.c.id)
        .limit(limit)
    )
    stmt = (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.id.in_(picked.scalar_subquery()))
        .values(status=DeliveryStatus.sending, lease_until=lease_until, attempts=D.c.attempts + 1)
        .returning(*_ROW)
    )
    rows = connection.execute(stmt).all()
    found = select(U.c.id, *_USER).where(U.c.workspace_id == workspace_id, U.c.id.in_([r[1] for r in rows]))
    users = {user[0]: user[1:] for user in connection.execute(found)}
    return [_claimed(row, users.get(row[1], (None,))) for row in rows]


class Outcome(NamedTuple):
    """A row's next state: final (sent, failed, suppressed, expired, cancelled) or back to
    ``queued`` at ``due_at`` (deferred, throttled, retried). A tuple: a chunk makes a thousand."""

    id: uuid.UUID
    status: str
    variant: str | None = None
    provider_id: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    due_at: datetime | None = None
    # Requeued rows that no provider was tried for do not count the attempt.
    refund_attempt: bool = False


def write(
    session: Session, workspace_id: uuid.UUID, lease_until: datetime, outcomes: Sequence[Outcome]
) -> int:
    """Write many rows' outcomes; returns how many were still ours (on SQLite, under our lease).

    Rows sharing an outcome (all but the id; log and batch providers often return no provider
    id) go in one ``UPDATE ... WHERE id = ANY(...)`` per group, so a chunk is a handful of
    statements; rows with their own provider ids go in one bulk statement.
    """
    groups: dict[tuple[Any, ...], list[uuid.UUID]] = defaultdict(list)
    distinct: list[Outcome] = []
    for o in outcomes:
        if o.provider_id is None:
            groups[(o.status, o.variant, o.error, o.sent_at, o.due_at, o.refund_attempt)].append(o.id)
        else:
            distinct.append(o)
    written = sum(
        _write_group(
            session, workspace_id, lease_until, Outcome(uuid.UUID(int=0), *key[:2], None, *key[2:]), ids
        )
        for key, ids in groups.items()
    )
    return written + _write_each(session, workspace_id, lease_until, distinct)


def count_failed_attempt(
    session: Session,
    workspace_id: uuid.UUID,
    claimed: Sequence[Claimed],
    *,
    error: str,
    retry_at: datetime,
    max_attempts: int,
) -> int:
    """Count the attempt of claimed rows whose chunk failed before writing them: each row still
    ``queued`` with the attempts it had before the claim goes back to ``queued`` at ``retry_at``,
    or ``failed`` once out of attempts. A row some other claim has since moved on is left alone."""
    ids_by_attempt: dict[int, list[uuid.UUID]] = defaultdict(list)
    for row in claimed:
        ids_by_attempt[row.attempts].append(row.id)
    counted = 0
    for attempt, ids in ids_by_attempt.items():
        out_of_attempts = attempt >= max_attempts
        stmt = (
            update(D)
            .where(
                D.c.workspace_id == workspace_id,
                D.c.id.in_(ids),
                D.c.status == DeliveryStatus.queued,
                D.c.attempts == attempt - 1,  # a claim returns the attempt it makes
            )
            .values(
                status=DeliveryStatus.failed if out_of_attempts else DeliveryStatus.queued,
                attempts=attempt,
                error=error,
                due_at=D.c.due_at if out_of_attempts else retry_at,
            )
        )
        counted += session.connection().execute(stmt).rowcount
    return counted


def _write_group(
    session: Session, workspace_id: uuid.UUID, lease_until: datetime, shared: Outcome, ids: list[uuid.UUID]
) -> int:
    if _is_postgres(session):
        return _write_group_postgres(session, workspace_id, shared, ids)
    values: dict[str, Any] = {
        "status": shared.status,
        "variant": shared.variant,
        "error": shared.error,
        "sent_at": shared.sent_at,
        "attempts": D.c.attempts - int(shared.refund_attempt),
        "lease_until": None,
    }
    if shared.due_at is not None:
        values["due_at"] = shared.due_at
    stmt = (
        update(D)
        .where(
            D.c.workspace_id == workspace_id,
            D.c.id.in_(ids),
            D.c.status == DeliveryStatus.sending,
            D.c.lease_until == lease_until,
        )
        .values(values)
    )
    return session.connection().execute(stmt).rowcount


# On Postgres an outcome is written to rows the transaction's claim locked, so the statements
# need no status test (``status = 'queued'`` would steer the planner to the partial index of
# queued rows, a scan of the whole send instead of a thousand primary-key lookups).
_WRITE_GROUP_POSTGRES = """
    UPDATE deliveries SET
        status = %(status)s, variant = %(variant)s, error = %(error)s, sent_at = %(sent_at)s,
        due_at = coalesce(%(due_at)s, due_at), attempts = attempts + 1 - %(refund)s
    WHERE workspace_id = %(workspace_id)s AND id = ANY(%(ids)b)
    """


def _write_group_postgres(
    session: Session, workspace_id: uuid.UUID, shared: Outcome, ids: list[uuid.UUID]
) -> int:
    params = {
        "workspace_id": workspace_id,
        "ids": ids,
        "status": shared.status,
        "variant": shared.variant,
        "error": shared.error,
        "sent_at": shared.sent_at,
        "due_at": shared.due_at,
        "refund": int(shared.refund_attempt),
    }
    cursor = sql.pg_cursor(session)
    cursor.execute(_WRITE_GROUP_POSTGRES, params)
    return cursor.rowcount


def _write_each(
    session: Session, workspace_id: uuid.UUID, lease_until: datetime, outcomes: Sequence[Outcome]
) -> int:
    if not outcomes:
        return 0
    if _is_postgres(session):
        return _write_postgres(session, workspace_id, outcomes)
    stmt = (
        update(D)
        .where(
            D.c.workspace_id == bindparam("w"),
            D.c.id == bindparam("d"),
            D.c.status == DeliveryStatus.sending,
            D.c.lease_until == bindparam("lease"),
        )
        .values(
            status=bindparam("s"),
            variant=bindparam("v"),
            provider_id=bindparam("p"),
            error=bindparam("e"),
            sent_at=bindparam("t"),
            due_at=case((bindparam("q", type_=D.c.due_at.type).is_(None), D.c.due_at), else_=bindparam("q")),
            attempts=D.c.attempts - bindparam("r"),
            lease_until=None,
        )
    )
    params = [
        {
            "w": workspace_id,
            "d": o.id,
            "lease": lease_until,
            "s": o.status,
            "v": o.variant,
            "p": o.provider_id,
            "e": o.error,
            "t": o.sent_at,
            "q": o.due_at,
            "r": int(o.refund_attempt),
        }
        for o in outcomes
    ]
    return session.connection().execute(stmt, params).rowcount or 0


_WRITE_POSTGRES = """
    UPDATE deliveries AS d SET
        status = v.status, variant = v.variant, provider_id = v.provider_id, error = v.error,
        sent_at = v.sent_at, due_at = coalesce(v.due_at, d.due_at),
        attempts = d.attempts + 1 - v.refund
    FROM unnest(
        %(ids)b::uuid[], %(statuses)s::text[], %(variants)s::text[], %(providers)s::text[],
        %(errors)s::text[], %(sent)s::timestamptz[], %(due)s::timestamptz[], %(refunds)s::int[]
    ) AS v(id, status, variant, provider_id, error, sent_at, due_at, refund)
    WHERE d.workspace_id = %(workspace_id)s AND d.id = v.id AND d.id = ANY(%(ids)b)
    """


def _write_postgres(session: Session, workspace_id: uuid.UUID, outcomes: Sequence[Outcome]) -> int:
    params = {
        "workspace_id": workspace_id,
        "ids": [o.id for o in outcomes],
        "statuses": [o.status for o in outcomes],
        "variants": [o.variant for o in outcomes],
        "providers": [o.provider_id for o in outcomes],
        "errors": [o.error for o in outcomes],
        "sent": [o.sent_at for o in outcomes],
        "due": [o.due_at for o in outcomes],
        "refunds": [int(o.refund_attempt) for o in outcomes],
    }
    cursor = sql.pg_cursor(session)
    with sql.hash_joins(session):  # whatever the statistics say (see there)
        cursor.execute(_WRITE_POSTGRES, params)
    return cursor.rowcount


def reclaim_expired(session: Session, workspace_id: uuid.UUID, *, now: datetime, max_attempts: int) -> int:
    """Rows whose claimer vanished (killed worker, lost connection) go back to ``queued`` with
    the same id, so the next send carries the same idempotency id; after ``max_attempts``
    claims they fail; rows of cancelled sends are cancelled."""
    send_status = (
        select(Send.status).where(Send.workspace_id == workspace_id, Send.id == D.c.send_id).scalar_subquery()
    )
    stmt = (
        update(D)
        .where(D.c.workspace_id == workspace_id, D.c.status == DeliveryStatus.sending, D.c.lease_until < now)
        .values(
            status=case(
                (send_status == SendStatus.cancelled, literal(DeliveryStatus.cancelled.value)),
                (D.c.attempts >= max_attempts, literal(DeliveryStatus.failed.value)),
                else_=literal(DeliveryStatus.queued.value),
            ),
            error=case(
                (D.c.attempts >= max_attempts, literal(f"lease expired {max_attempts} times")),
                else_=D.c.error,
            ),
            lease_until=None,
            due_at=now,  # past every lane's position, so a running lane picks it up
        )
    )
    return session.connection().execute(stmt).rowcount or 0


def count_of_send(session: Session, send: Send) -> int:
    """Rows the send holds, whatever their status (a scan of its campaign's part of the unique
    key's index)."""
    held = select(func.count()).where(
        D.c.workspace_id == send.workspace_id, D.c.campaign_id == send.campaign_id, D.c.send_id == send.id
    )
    return session.connection().execute(held).scalar_one()


def has_rows_since(session: Session, send: Send, since: datetime) -> bool:
    """Whether the send holds rows made at ``since`` or later: ids are UUIDv7s of their creation,
    so this is a range of the primary key (the workspace's newest rows). The send is matched
    with ``IS NOT DISTINCT FROM``, which no index serves: on the send's own index the planner
    would read every row of a send planned in earlier waves."""
    floor = uuid7_floor(int(since.timestamp() * 1000))
    newer = exists().where(
        D.c.workspace_id == send.workspace_id, D.c.id >= floor, D.c.send_id.is_not_distinct_from(send.id)
    )
    return bool(session.connection().execute(select(newer)).scalar())


def _unfinished_each(workspace_id: uuid.UUID, sends: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """One condition per unfinished status: each probe is then a lookup in that status's partial
    index, where one ``IN`` over both statuses lets the planner scan the whole ledger."""
    return [and_(D.c.workspace_id == workspace_id, sends, D.c.status == status) for status in UNFINISHED]


def has_unfinished(session: Session, send: Send) -> bool:
    probes = [exists().where(c) for c in _unfinished_each(send.workspace_id, D.c.send_id == send.id)]
    return bool(session.scalar(select(or_(*probes))))


def earliest_unfinished(
    session: Session, workspace_id: uuid.UUID, sends: Any, *, due_by: datetime
) -> datetime | None:
    """The earliest due_at, up to ``due_by``, of the unfinished rows of ``sends`` (ids or a
    subquery of them)."""
    firsts = [
        select(func.min(D.c.due_at)).where(c, D.c.due_at <= due_by).scalar_subquery()
        for c in _unfinished_each(workspace_id, D.c.send_id.in_(sends))
    ]
    found = [first for first in session.execute(select(*firsts)).one() if first is not None]
    return min(found) if found else None


def cancel_queued(session: Session, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> int:
    sends = select(Send.id).where(Send.workspace_id == workspace_id, Send.campaign_id == campaign_id)
    stmt = (
        update(D)
        .where(
            and_(
                D.c.workspace_id == workspace_id, D.c.send_id.in_(sends), D.c.status == DeliveryStatus.queued
            )
        )
        .values(status=DeliveryStatus.cancelled)
    )
    return session.connection().execute(stmt).rowcount or 0
