"""Small dialect bridges so services write one statement for Postgres and SQLite, and the
Postgres cursor bulk writes use."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
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


@contextmanager
def hash_joins(session: Session) -> Iterator[None]:
    """No nested loops for the Postgres statements inside the block. An ``UPDATE ... FROM
    unnest(...)`` of a batch (its rows also bounded by ``id = ANY``) must join the batch by hash:
    when statistics believe the workspace holds a row or two of the table (right after a bulk
    insert, or a workspace new to a large table's statistics) the planner loops over all the
    workspace's rows and reads the arrays again for each. The rest of the transaction plans as
    usual (on failure the transaction, and its ``SET LOCAL``, is rolled back anyway)."""
    cursor = pg_cursor(session)
    cursor.execute("SET LOCAL enable_nestloop = off")
    yield
    cursor.execute("SET LOCAL enable_nestloop = on")


def rows(columns: Sequence[tuple[str, str]], *, one: bool, ordinality: bool = False) -> str:
    """The FROM item yielding the rows of a bulk statement, one ``(parameter, SQL type)`` per
    column: ``unnest`` of array parameters, or for one row a VALUES row of scalar parameters
    (``row_params`` gives them). ``ordinality`` adds the row's position as a last column.

    Postgres keeps a custom plan, planned anew at every execution, for a prepared statement
    whose generic plan looks dearer than its custom plans did, and a generic plan over
    ``unnest`` of parameters guesses the arrays far longer than one element: on a connection
    whose first executions were single rows, every single row was planned again (about as
    costly as running it). A VALUES row is one row to both plans, so the cached plan is used.
    """
    if one:
        values = ", ".join(f"%({name})b::{kind}" for name, kind in columns)
        return f"(VALUES ({values}{', 1::bigint' if ordinality else ''}))"
    arrays = ", ".join(f"%({name})b::{kind}[]" for name, kind in columns)
    return f"unnest({arrays}){' WITH ORDINALITY' if ordinality else ''}"


def row_params(arrays: Mapping[str, Sequence[Any]], *, one: bool) -> dict[str, Any]:
    """The column parameters of ``rows``: the arrays, or with ``one`` each one's only element."""
    return {name: values[0] if one else values for name, values in arrays.items()}
