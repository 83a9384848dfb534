"""ISO 8601 instants inside JSON documents: the one grammar every comparison agrees on.

Custom attributes and event properties hold dates as strings. A string is an instant when it
matches ``YYYY-MM-DD`` optionally followed by ``THH:MM[:SS[.ffffff]]`` and a ``Z`` or
``+HH:MM`` offset (no offset means UTC), names a real calendar day, and has a year from 1000
to 2999. Anything else is not a date and never matches a date condition. Postgres evaluates
the same grammar in SQL (``nudge_instant`` in migration 0002); SQLite calls this module.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Keep in step with the SQL function ``nudge_instant`` (migrations/versions/*-segments.py).
ISO_INSTANT = (
    r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$"
)
_PATTERN = re.compile(ISO_INSTANT)
SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def parse_instant(value: object) -> datetime | None:
    """The UTC instant a string names, or None when it is not one (wrong type, shape or day)."""
    if not isinstance(value, str) or not _PATTERN.fullmatch(value):
        return None
    try:
        local = datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None
    if len(value) > 10:
        local = local.replace(hour=int(value[11:13]), minute=int(value[14:16]))
        if value[16:17] == ":":
            local = local.replace(second=int(value[17:19]))
        if "." in value:
            digits = re.match(r"[0-9]+", value[value.index(".") + 1 :])
            assert digits is not None
            local = local.replace(microsecond=int(digits.group().ljust(6, "0")))
        if value[-6] in "+-" and value[-3] == ":":
            sign = 1 if value[-6] == "+" else -1
            local -= sign * timedelta(hours=int(value[-5:-3]), minutes=int(value[-2:]))
    return local.replace(tzinfo=UTC)


def sqlite_instant(value: object) -> str | None:
    """``parse_instant`` in the text form SQLAlchemy stores datetimes in on SQLite, so the
    result compares correctly with stored columns and bound parameters."""
    instant = parse_instant(value)
    return None if instant is None else instant.strftime(SQLITE_FORMAT)
