"""local_to_utc: the one place wall times become instants, across DST gaps and overlaps; and
in_zone, the one place instants are read on a zone's clock."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.demo import PLACES
from app.kit.timezones import in_zone, is_iana_zone, local_to_utc


@pytest.mark.parametrize(
    ("day", "wall", "zone", "expected"),
    [
        # Plain offsets, including the odd ones.
        (date(2026, 1, 15), time(9, 0), "Asia/Kathmandu", datetime(2026, 1, 15, 3, 15, tzinfo=UTC)),
        (date(2026, 1, 15), time(9, 0), "Pacific/Marquesas", datetime(2026, 1, 15, 18, 30, tzinfo=UTC)),
        (date(2026, 1, 15), time(9, 0), "Pacific/Chatham", datetime(2026, 1, 14, 19, 15, tzinfo=UTC)),
        # Europe/Berlin springs forward at 02:00 on 2026-03-29: 02:30 does not exist, so the first
        # valid instant after it is the jump itself (01:00 UTC, 03:00 local).
        (date(2026, 3, 29), time(2, 30), "Europe/Berlin", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # It falls back at 03:00 on 2026-10-25: 02:30 happens twice; the first is 00:30 UTC.
        (date(2026, 10, 25), time(2, 30), "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # America/New_York: gap 02:00-03:00 on 2026-03-08, overlap 01:00-02:00 on 2026-11-01.
        (date(2026, 3, 8), time(2, 15), "America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        (date(2026, 11, 1), time(1, 15), "America/New_York", datetime(2026, 11, 1, 5, 15, tzinfo=UTC)),
        # Lord Howe moves by only 30 minutes: 02:15 on 2026-10-04 is in the gap.
        (date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
        # Southern hemisphere overlap: Sydney falls back at 03:00 on 2026-04-05.
        (date(2026, 4, 5), time(2, 30), "Australia/Sydney", datetime(2026, 4, 4, 15, 30, tzinfo=UTC)),
    ],
)
def test_known_instants(day, wall, zone, expected):
    assert local_to_utc(day, wall, zone) == expected


def test_a_zone_that_is_not_iana_is_an_error():
    with pytest.raises(ValueError, match="IANA"):
        local_to_utc(date(2026, 1, 1), time(9), "Mars/Base")
    assert is_iana_zone("Asia/Kathmandu") and not is_iana_zone("Mars/Base") and not is_iana_zone("")


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    wall=st.times(),
    zone=st.sampled_from([place[0] for place in PLACES]),
)
def test_the_answer_is_the_wall_time_or_the_jump_over_it(day, wall, zone):
    tz = ZoneInfo(zone)
    wanted = datetime.combine(day, wall)
    instant = local_to_utc(day, wall, zone)
    assert instant.tzinfo is UTC
    seen = instant.astimezone(tz).replace(tzinfo=None)
    if seen != wanted:
        # Only in a gap: the wall time never happens and the clocks jump over it at ``instant``.
        before = (instant - timedelta(seconds=1)).astimezone(tz).replace(tzinfo=None)
        assert before < wanted < seen
        assert instant.microsecond == 0
    else:
        # In an overlap the wall time shows twice, 30 or 60 minutes apart: ours is the first.
        for shift in (timedelta(minutes=30), timedelta(hours=1)):
            assert (instant - shift).astimezone(tz).replace(tzinfo=None) != wanted


def test_in_zone_is_the_same_moment_on_the_zones_clock_and_naive_means_utc():
    # Berlin falls back at 03:00 on 2026-10-25: 00:30 and 01:30 UTC both read 02:30 there.
    first, second = datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert [in_zone(t, "Europe/Berlin").isoformat() for t in (first, second)] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
    ]
    assert in_zone(datetime(2026, 1, 1, 20, 0), "Asia/Tokyo").isoformat() == "2026-01-02T05:00:00+09:00"
    assert in_zone(first, "Europe/Berlin").timestamp() == first.timestamp()  # the same moment
    with pytest.raises(ValueError, match="not an IANA time zone"):
        in_zone(first, "Mars/Olympus")


def test_instants_are_put_in_a_local_zone_only_through_the_timezones_module():
    app = Path(__file__).resolve().parents[2] / "app"
    local = re.compile(r"\.astimezone\((?!UTC\))")  # to UTC is normalising, not zone arithmetic
    found = [
        f"{path.relative_to(app)}:{n}"
        for path in app.rglob("*.py")
        if path.name != "timezones.py" or path.parent.name != "kit"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if local.search(line)
    ]
    assert found == []
