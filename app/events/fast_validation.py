"""A quick first look at batch items, so the common well-formed item skips Pydantic.

msgspec checks the item's shape and the model's length limits (read from ``EventIn``, so the
two cannot drift apart); the model's own adapter reads the timestamp. The answer is only ever
"plainly valid" or "let the model decide": an error, text holding NUL, properties nested deep
or holding 19-digit numbers all go to ``EventIn``, which accepts or words the error as always.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, get_args

import msgspec
import orjson
from pydantic import StringConstraints, TypeAdapter, ValidationError

from app.events.schemas import EventIn

# Screens, not rules: beyond them the model decides (64-bit integers, nesting depth, NUL).
_PLAIN_NESTING = 16
# A 19-digit run that starts a number (or its integer part); a long fraction is harmless.
_LONG_NUMBER = re.compile(rb"(?<![.\d])\d{19}")
_NUL_ESCAPE = b"\\u0000"


def _limited_text(field: str) -> Any:
    """``str`` with the length limits the model declares for ``field``."""

    def constraints(annotation: Any) -> StringConstraints | None:
        for arg in get_args(annotation):
            found = arg if isinstance(arg, StringConstraints) else constraints(arg)
            if found is not None:
                return found
        return None

    limits = constraints(EventIn.model_fields[field].rebuild_annotation())
    assert limits is not None, f"EventIn.{field} declares no length limits"
    return Annotated[str, msgspec.Meta(min_length=limits.min_length, max_length=limits.max_length)]


_UserId = _limited_text("user_id")
_Name = _limited_text("name")
_MessageId = _limited_text("message_id")
_timestamp: TypeAdapter[datetime | None] = TypeAdapter(EventIn.model_fields["timestamp"].rebuild_annotation())


class _Item(msgspec.Struct, forbid_unknown_fields=True):
    user_id: _UserId
    name: _Name
    timestamp: Any = None
    properties: dict[str, Any] = {}
    message_id: _MessageId | None = None


@dataclass(frozen=True, slots=True)
class PlainItem:
    user_id: str
    name: str
    timestamp: datetime | None
    properties: dict[str, Any]
    properties_json: bytes
    message_id: str | None


def plainly_valid(raw: Any) -> PlainItem | None:
    """The item's fields when it is plainly valid; None when the model must decide."""
    try:
        item = msgspec.convert(raw, _Item)
        timestamp = _timestamp.validate_python(item.timestamp)
    except (msgspec.ValidationError, ValidationError):
        return None
    if "\x00" in item.user_id or "\x00" in item.name or (item.message_id and "\x00" in item.message_id):
        return None
    encoded = orjson.dumps(item.properties)
    if (
        _NUL_ESCAPE in encoded
        or encoded.count(b"{") + encoded.count(b"[") > _PLAIN_NESTING
        or _LONG_NUMBER.search(encoded)
    ):
        return None
    return PlainItem(item.user_id, item.name, timestamp, item.properties, encoded, item.message_id)
