"""Engine, sessions and the one tenant-scoping mechanism.

Every ORM statement issued through a session is filtered to the session's workspace by
``with_loader_criteria``; a session with no workspace sees no tenant rows at all (fail closed).
On Postgres the same workspace is also set per transaction with ``set_config(..., true)`` so
row-level security is a second, independent wall; connections switch to a role without
BYPASSRLS, so the policies hold even when the login user owns the tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result
from psycopg.generators import execute
from sqlalchemy import Engine, create_engine, event, exc, false
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker, with_loader_criteria
from sqlalchemy.pool import ConnectionPoolEntry

from app.kit import sqlite_functions
from app.kit.settings import Settings
from app.models.base import TenantScoped

WORKSPACE_KEY = "workspace_id"
OPERATOR_KEY = "operator_id"
SYSTEM_KEY = "system"


class Database:
    """The engine and session factory for one database URL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = _make_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        # Requests allowed to use the database at once. A request holds at most two connections
        # (its session, and an idempotency claim's own short transaction), and the pool holds
        # twice the pool size (overflow included), so every request let in can finish.
        self.request_turns = settings.database_pool_size

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def session(self, workspace_id: uuid.UUID | None = None) -> Session:
        session = self.sessions()
        if workspace_id is not None:
            scope_to_workspace(session, workspace_id)
        return session

    @contextmanager
    def transaction(self, workspace_id: uuid.UUID | None = None) -> Iterator[Session]:
        """A unit of work for code outside a request (tasks, CLI): commit or roll back."""
        with self.session(workspace_id) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        ensure_sqlite_folder(settings.database_url)
        in_memory = settings.database_url in ("sqlite://", "sqlite:///:memory:")  # one shared connection
        pool = (
            {}
            if in_memory
            else {"pool_size": settings.database_pool_size, "max_overflow": settings.database_pool_size}
        )
        engine = create_engine(
            settings.database_url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
    )
    role, timeout = settings.database_role, settings.statement_timeout_ms
    _ping_after_idle(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        with dbapi_conn.cursor() as cur:
            if role:
                cur.execute(f'SET ROLE "{role}"')
            cur.execute(f"SET statement_timeout = {int(timeout)}")
            # Every instant is UTC whatever the server's default zone: SQL that casts an instant
            # to a date means the UTC date, and the driver loads instants with the fixed UTC
            # offset instead of a zone lookup per value (a third of the cost of reading one).
            cur.execute("SET TimeZone = 'UTC'")
        dbapi_conn.commit()

    return engine


# A connection is checked before use only after it sat idle this long. Pinging on every checkout
# (SQLAlchemy's pre_ping) cost a round trip per request and per dispatch chunk; a connection
# back in the pool within seconds is as alive as a ping would show, and one that broke anyway
# (the server restarted just then) fails that request and is replaced.
PING_AFTER_IDLE_S = 5.0


def _ping_after_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise exc.DisconnectionError(str(error)) from error


def ensure_sqlite_folder(url: str) -> None:
    """SQLite creates the file but not its folder (``.nudge/`` on a first start)."""
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    sqlite_functions.register(dbapi_conn)


def scope_to_workspace(session: Session, workspace_id: uuid.UUID) -> None:
    """Bind the session to one workspace, for the ORM filter and for Postgres RLS."""
    session.info[WORKSPACE_KEY] = workspace_id
    if session.in_transaction():
        _set_rls(session, session.connection())


def scope_to_operator(session: Session, operator_id: uuid.UUID) -> None:
    """Name the signed-in operator for Postgres RLS: policies that span workspaces (an
    operator's own memberships) read it. Tenant rows still need ``scope_to_workspace``."""
    session.info[OPERATOR_KEY] = operator_id
    if session.in_transaction():
        _set_rls(session, session.connection())


def scope_to_system(session: Session) -> None:
    """Cross-workspace access for planners that discover due work; never for request code."""
    session.info[SYSTEM_KEY] = True
    if session.in_transaction():
        _set_rls(session, session.connection())


def current_workspace(session: Session) -> uuid.UUID:
    workspace_id = session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        raise RuntimeError("session is not scoped to a workspace")
    return workspace_id


_SET_RLS = (
    "SELECT set_config('nudge.workspace_id', '{workspace}', true),"
    " set_config('nudge.operator_id', '{operator}', true), set_config('nudge.system', '{system}', true)"
)


def _set_rls(session: Session, connection: Any) -> None:
    if connection.dialect.name != "postgresql":
        return
    workspace_id = session.info.get(WORKSPACE_KEY)
    operator_id = session.info.get(OPERATOR_KEY)
    # Ids as canonical UUID text and a fixed flag: nothing else can reach the statement.
    statement = _SET_RLS.format(
        workspace=uuid.UUID(str(workspace_id)) if workspace_id else "",
        operator=uuid.UUID(str(operator_id)) if operator_id else "",
        system="on" if session.info.get(SYSTEM_KEY) else "",
    )
    driver = connection.connection.dbapi_connection
    # Once per transaction, as a simple query on the driver's connection: at the transaction's
    # start the driver would send its BEGIN on a round trip of its own before this statement;
    # sent together they take one. The driver reads the server's transaction status, so it
    # sends no BEGIN of its own after.
    if driver.pgconn.transaction_status == pq.TransactionStatus.IDLE:
        statement = f"BEGIN; {statement}"
    driver.pgconn.send_query(statement.encode())
    result = driver.wait(execute(driver.pgconn))[-1]
    if result.status != pq.ExecStatus.TUPLES_OK:
        if driver.pgconn.status == pq.ConnStatus.BAD:
            raise psycopg.OperationalError(f"the connection is lost: {driver.pgconn.get_error_message()}")
        raise error_from_result(result, encoding=driver.info.encoding)


@event.listens_for(Session, "after_begin")
def _after_begin(session: Session, _tx: SessionTransaction, connection: Any) -> None:
    if any(session.info.get(key) for key in (WORKSPACE_KEY, OPERATOR_KEY, SYSTEM_KEY)):
        _set_rls(session, connection)


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.session.info.get(SYSTEM_KEY):
        return
    workspace_id = state.session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        state.statement = state.statement.options(
            with_loader_criteria(TenantScoped, lambda cls: false(), include_aliases=True)
        )
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.workspace_id == workspace_id, include_aliases=True)
    )
