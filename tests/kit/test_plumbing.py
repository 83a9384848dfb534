"""Small shared pieces: UTC column type, cursors, time-ordered ids."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from app.kit.errors import Invalid
from app.kit.ids import uuid7
from app.kit.pagination import decode_cursor, encode_cursor
from app.kit.types import UtcDateTime


def test_utc_datetime_refuses_naive_times():
    with pytest.raises(ValueError, match="naive"):
        UtcDateTime().process_bind_param(datetime(2026, 1, 1), postgresql.dialect())


def test_utc_datetime_stores_and_reads_utc_instants():
    column = UtcDateTime()
    kathmandu = datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=45)))
    assert column.process_bind_param(kathmandu, postgresql.dialect()) == datetime(
        2026, 1, 1, 3, 15, tzinfo=UTC
    )
    assert column.process_bind_param(kathmandu, sqlite.dialect()) == datetime(2026, 1, 1, 3, 15)
    assert column.process_result_value(datetime(2026, 1, 1, 3, 15), sqlite.dialect()).tzinfo is UTC


def test_cursors_round_trip_and_refuse_forgeries():
    some_id = uuid7()
    assert decode_cursor(encode_cursor(some_id)) == some_id
    for forged in ("", "!!!!", "AAAA", encode_cursor(some_id)[:-3]):
        with pytest.raises(Invalid) as caught:
            decode_cursor(forged)
        assert caught.value.field == "cursor"


def test_uuid7_is_version_7_and_ordered_by_time():
    first = uuid7()
    time.sleep(0.002)
    later = [uuid7() for _ in range(50)]
    assert first.version == 7 and first.variant == uuid.RFC_4122
    assert all(first < other for other in later)
    assert len(set(later)) == 50
    assert abs((first.int >> 80) - time.time_ns() // 1_000_000) < 5_000
