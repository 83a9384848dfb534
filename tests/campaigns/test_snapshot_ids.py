"""The ids the database makes for snapshot rows (``nudge_uuid7()``) are UUIDv7s of the clock's
millisecond on both databases: retention and the dispatcher read time from them."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import text

from app.kit.db import Database

_TWO_THOUSAND_IDS = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
    " SELECT nudge_uuid7() FROM n"
)


@pytest.mark.smoke
def test_database_uuid7_is_version_7_unique_and_of_this_millisecond(database: Database) -> None:
    before = time.time_ns() // 1_000_000
    with database.transaction() as session:
        # Postgres answers UUIDs, SQLite the hex text the Uuid column type stores
        ids = [i if isinstance(i, uuid.UUID) else uuid.UUID(i) for i in session.scalars(_TWO_THOUSAND_IDS)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids) == 2000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(before - 1_000 <= i.int >> 80 <= after + 1_000 for i in ids)
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)
