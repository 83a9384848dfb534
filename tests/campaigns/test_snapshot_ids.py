"""The ids the database makes for snapshot rows (``nudge_uuid7()``) are UUIDv7s of the clock's
millisecond: retention and the dispatcher read time from them."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from app.kit.db import Database


def test_database_uuid7_is_version_7_unique_and_of_this_millisecond(database: Database) -> None:
    before = time.time_ns() // 1_000_000
    with database.transaction() as session:
        ids = list(session.scalars(text("SELECT nudge_uuid7() FROM generate_series(1, 2000)")))
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids) == 2000
    assert all(isinstance(i, uuid.UUID) and i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert all(before - 1_000 <= i.int >> 80 <= after + 1_000 for i in ids)
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)
