"""Annotated field types shared by every ingest path: reserved user fields, and the text, JSON
and timestamps a client may send, held to what the database can store (Postgres refuses NUL
in text, unpaired surrogates, non-finite numbers in JSON)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from app.kit.timezones import is_iana_zone

MAX_JSON_DEPTH = 32
_INT64 = 2**63

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")


def text_problem(value: str) -> str | None:
    """Why Postgres cannot store this text (NUL, an unpaired surrogate), or None."""
    if "\x00" in value:
        return "text may not contain NUL (\\u0000) characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "text holds an unpaired UTF-16 surrogate"
    return None


def unstorable(value: Any, depth: int = 0) -> tuple[str, str] | None:
    """The first thing in ``value`` that Postgres (text, jsonb) or our JSON encoder cannot hold,
    as (path below ``value``: "", ".key" or "[3]"..., the reason); None when all is storable."""
    if isinstance(value, str):
        problem = text_problem(value)
    elif isinstance(value, bool) or value is None:
        problem = None
    elif isinstance(value, int):
        problem = None if -_INT64 <= value < _INT64 else "integers must fit in 64 bits"
    elif isinstance(value, float):
        problem = None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    elif isinstance(value, list | dict) and depth >= MAX_JSON_DEPTH:
        problem = f"values may nest at most {MAX_JSON_DEPTH} levels deep"
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable(item, depth + 1)
            if found:
                return f"[{index}]{found[0]}", found[1]
        return None
    elif isinstance(value, dict):
        for key, item in value.items():
            step = "." + printable(str(key))
            found = ("", text_problem(key)) if isinstance(key, str) and text_problem(key) else None
            found = found or unstorable(item, depth + 1)
            if found:
                return step + found[0], str(found[1])
        return None
    else:
        problem = None  # already a parsed value (a datetime, a UUID...)
    return ("", problem) if problem else None


def printable(text: str) -> str:
    """``text`` with unpaired surrogates escaped, so an answer naming it can be encoded."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def storable_text(value: str) -> str:
    problem = text_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def storable_json(value: Any) -> Any:
    found = unstorable(value)
    if found:
        where, problem = found
        raise ValueError(f"{where.lstrip('.')}: {problem}" if where else problem)
    return value


def utc_instant(value: datetime) -> datetime:
    """A client's time as a UTC instant (no offset means UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside the calendar once converted to UTC") from None


def _zone(value: str) -> str:
    if not is_iana_zone(value):
        raise ValueError(f"{value!r} is not an IANA time zone name (such as 'Europe/Berlin')")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise ValueError(f"{value!r} is not a locale such as 'de-DE'")
    return value.replace("_", "-")


def _phone(value: str) -> str:
    if not _PHONE.match(value):
        raise ValueError(f"{value!r} is not a phone number")
    return value


def _country(value: str) -> str:
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise ValueError(f"{value!r} is not an ISO 3166 two-letter country code")
    return value.upper()


# For values outside request models (path and query parameters, plain models); request models
# check every field at once (app.kit.schemas.RequestModel). After any StringConstraints, so
# those keep their own messages.
STORABLE = AfterValidator(storable_text)
Text = Annotated[str, STORABLE]
UtcTimestamp = Annotated[datetime, AfterValidator(utc_instant)]

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255), STORABLE]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_zone)]
Email = Annotated[
    str, StringConstraints(max_length=320, strip_whitespace=True), STORABLE, AfterValidator(_email)
]
Locale = Annotated[str, StringConstraints(max_length=35), AfterValidator(_locale)]
Phone = Annotated[str, StringConstraints(max_length=32), STORABLE, AfterValidator(_phone)]
Country = Annotated[str, AfterValidator(_country)]
ShortText = Annotated[str, StringConstraints(max_length=100), STORABLE]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
