"""Annotated field types for the reserved user fields, shared by every ingest path."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from app.kit.timezones import is_iana_zone

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{1,63}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{2,31}$")


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


ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
TimeZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_zone)]
Email = Annotated[str, StringConstraints(max_length=320, strip_whitespace=True), AfterValidator(_email)]
Locale = Annotated[str, StringConstraints(max_length=35), AfterValidator(_locale)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_phone)]
Country = Annotated[str, AfterValidator(_country)]
ShortText = Annotated[str, StringConstraints(max_length=100)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
