"""Small dialect bridges so services write one statement for Postgres and SQLite, and the
Postgres cursor bulk writes use."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which knows ``on_conflict_do_nothing``/``do_update``."""
    if is_postgres(session):
        return postgresql.insert(table)
    return sqlite.insert(table)


def pg_cursor(session: Session) -> psycopg.Cursor[Any]:
    """A binary psycopg cursor inside the session's transaction (so row-level security holds).

    Bulk statements pass each column as one array parameter (``%(name)b``, read with
    ``unnest``): one statement of a few parameters instead of SQLAlchemy binding every row.
    """
    connection = session.connection().connection.driver_connection
    return connection.cursor(binary=True)
