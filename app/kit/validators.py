"""Annotated field types shared by every ingest path: reserved user fields, and the text, JSON
and timestamps a client may send, held to what the database can store (Postgres refuses NUL
in text, unpaired surrogates, non-finite numbers in JSON)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, JsonValue, StringConstraints

from app.kit.timezones import is_iana_zone

MAX_JSON_DEPTH = 32
_INT64 = 2**63

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")


def storable_text(value: str) -> str:
    """Refuse text Postgres cannot store: NUL characters and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("text may not contain NUL (\\u0000) characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text holds an unpaired UTF-16 surrogate") from None
    return value


def storable_json(value: Any, depth: int = 0) -> Any:
    """Refuse JSON values Postgres ``jsonb`` (and our encoder) cannot hold."""
    if isinstance(value, str):
        storable_text(value)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError("integers must fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif depth >= MAX_JSON_DEPTH:
        raise ValueError(f"values may nest at most {MAX_JSON_DEPTH} levels deep")
    elif isinstance(value, list):
        for item in value:
            storable_json(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            storable_text(key)
            storable_json(item, depth + 1)
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


STORABLE = AfterValidator(storable_text)  # after any StringConstraints, which keeps their messages
Text = Annotated[str, STORABLE]
Json = Annotated[JsonValue, AfterValidator(storable_json)]
JsonObject = dict[Text, Json]
JsonScalar = Annotated[str | int | float | bool, AfterValidator(storable_json)]
JsonNumber = Annotated[int | float, AfterValidator(storable_json)]
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
