"""Content experiment exposures, recorded off the request path.

A ``GET /v1/content`` answer that serves a user a variant only adds (workspace, experiment,
user) to this process's buffer; a background thread writes the buffer once a second, one
statement per workspace, keeping the first exposure of each (a unique key; a later one, or
another process's, changes nothing). Keys already written are remembered, so a user asking
again costs nothing; as bytes, which the garbage collector does not track (200,000 remembered
tuples of ids made each full collection walk 600,000 objects, a pause of about 50 ms). A user
erased before the write is skipped. A process that dies loses at most its last second of
exposures: they count for the results, they are not acknowledged data.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict, defaultdict
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import bindparam, exists, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app.kit import sql
from app.kit.db import Database
from app.kit.ids import uuid7
from app.models import ContentExposure, User

log = logging.getLogger(__name__)
exposures = ContentExposure.__table__
users = User.__table__
FLUSH_S = 1.0
REMEMBERED = 200_000  # (workspace, experiment, user) keys known written, most recent kept
MAX_PENDING = 100_000  # held across failed writes (the database away) before dropping
COLUMNS = ("id", "user_id", "experiment", "variant", "at")

Key = tuple[uuid.UUID, str, uuid.UUID]


def _remembered(key: Key) -> bytes:
    workspace_id, experiment, user_id = key
    return workspace_id.bytes + user_id.bytes + experiment.encode()


class ExposureRecorder:
    def __init__(self, database: Database, flush_s: float = FLUSH_S) -> None:
        self.database = database
        self.flush_s = flush_s
        self._pending: dict[Key, tuple[str, datetime]] = {}
        self._written: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, workspace_id: uuid.UUID, user_id: uuid.UUID, served: dict[str, str], at: datetime) -> None:
        """Note the variants (by experiment) just served to a user."""
        with self._lock:
            for experiment, variant in served.items():
                key = (workspace_id, experiment, user_id)
                if key not in self._pending and _remembered(key) not in self._written:
                    self._pending[key] = (variant, at)

    def flush(self) -> int:
        """Write what is pending; returns how many exposures were offered to the database."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        by_workspace: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        for (workspace_id, experiment, user_id), (variant, at) in pending.items():
            row = {"id": uuid7(), "user_id": user_id, "experiment": experiment, "variant": variant, "at": at}
            by_workspace[workspace_id].append(row)
        try:
            for workspace_id, rows in by_workspace.items():
                self._write(workspace_id, rows)
        except (DBAPIError, psycopg.Error):  # the database away, or an erasure raced the write
            log.warning("content exposures not written yet (%d); retrying", len(pending), exc_info=True)
            with self._lock:
                if len(self._pending) + len(pending) <= MAX_PENDING:
                    self._pending = {**pending, **self._pending}
            return 0
        with self._lock:
            for key in pending:
                self._written[_remembered(key)] = None
            while len(self._written) > REMEMBERED:
                self._written.popitem(last=False)
        return len(pending)

    def _write(self, workspace_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
        with self.database.transaction(workspace_id) as session:
            if not sql.is_postgres(session):
                session.execute(_insert_statement(session, workspace_id), rows)
                return
            # One statement over arrays: binding each row's values cost more than the insert.
            columns = {name: [row[name] for row in rows] for name in COLUMNS}
            sql.pg_cursor(session).execute(_INSERT_POSTGRES, {"workspace_id": workspace_id, **columns})

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="content-exposures", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stopping.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # the thread must outlive any one failure
                log.exception("content exposures: a write failed")


# Each row only while its user still exists (an erasure may have come between the answer and
# this write); the first exposure wins.
_INSERT_POSTGRES = """
INSERT INTO content_exposures (workspace_id, id, user_id, experiment, variant, first_seen_at)
SELECT %(workspace_id)b, v.id, v.user_id, v.experiment, v.variant, v.at
FROM unnest(%(id)b::uuid[], %(user_id)b::uuid[], %(experiment)b::text[], %(variant)b::text[],
            %(at)b::timestamptz[]) AS v(id, user_id, experiment, variant, at)
WHERE EXISTS (SELECT FROM users u WHERE u.workspace_id = %(workspace_id)b AND u.id = v.user_id)
ON CONFLICT (workspace_id, experiment, user_id) DO NOTHING
"""


def _insert_statement(session: Session, workspace_id: uuid.UUID) -> Any:
    """The same for SQLite, one parameter set per row."""
    user_id = bindparam("user_id", type_=exposures.c.user_id.type)
    chosen = select(
        bindparam("workspace_id", workspace_id, type_=exposures.c.workspace_id.type),
        bindparam("id", type_=exposures.c.id.type),
        user_id,
        bindparam("experiment", type_=exposures.c.experiment.type),
        bindparam("variant", type_=exposures.c.variant.type),
        bindparam("at", type_=exposures.c.first_seen_at.type),
    ).where(exists().where(users.c.workspace_id == workspace_id, users.c.id == user_id))
    columns = ["workspace_id", "id", "user_id", "experiment", "variant", "first_seen_at"]
    return (
        sql.insert(session, exposures)
        .from_select(columns, chosen)
        .on_conflict_do_nothing(index_elements=["workspace_id", "experiment", "user_id"])
    )


def exposure_recorder(state: State) -> ExposureRecorder:
    """The app's recorder (made by ``create_app``, its thread run by the app's lifespan)."""
    recorder: ExposureRecorder = state.exposures
    return recorder
