"""Custom attribute updates: merge, set operations (add / remove / increment) and limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.kit.errors import ErrorCode, Invalid, TooLarge
from app.kit.validators import storable_json

MAX_ATTRIBUTES = 250
MAX_KEY_LENGTH = 128
MAX_TOTAL_BYTES = 64 * 1024

Scalar = str | int | float | bool


@dataclass
class AttributeChanges:
    """One update. ``set`` merges (a ``None`` value deletes the key); ``add``/``remove`` treat a
    list attribute as a set; ``increment`` adds to a number (missing counts as 0)."""

    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, list[Scalar]] = field(default_factory=dict)
    remove: dict[str, list[Scalar]] = field(default_factory=dict)
    increment: dict[str, int | float] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.set or self.add or self.remove or self.increment)


def check_key(key: str, where: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Invalid(
            f"attribute names must be 1 to {MAX_KEY_LENGTH} characters", field=f"{where}.{key[:40]}"
        )
    if any(ord(c) < 32 for c in key) or key.startswith("$"):
        raise Invalid(
            "attribute names may not start with '$' or hold control characters", field=f"{where}.{key[:40]}"
        )


def apply(current: dict[str, Any], changes: AttributeChanges) -> dict[str, Any]:
    """Return the new attributes; refuses type clashes and limits with a named field."""
    result = dict(current)
    for key, value in changes.set.items():
        check_key(key, "attributes")
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    for key, values in changes.add.items():
        check_key(key, "add")
        existing = _as_list(result.get(key), f"add.{key}")
        for value in values:
            if value not in existing:
                existing.append(value)
        result[key] = existing
    for key, values in changes.remove.items():
        check_key(key, "remove")
        existing = _as_list(result.get(key), f"remove.{key}")
        result[key] = [v for v in existing if v not in values]
    for key, amount in changes.increment.items():
        check_key(key, "increment")
        base = result.get(key, 0)
        if isinstance(base, bool) or not isinstance(base, int | float):
            raise Invalid(
                f"cannot increment {key!r}: it holds a {type(base).__name__}", field=f"increment.{key}"
            )
        result[key] = base + amount
        try:
            storable_json(result[key])
        except ValueError as exc:
            raise Invalid(f"incrementing {key!r} would overflow: {exc}", field=f"increment.{key}") from None
    check_limits(result)
    return result


def merge_only(changes: AttributeChanges) -> bool:
    """True when the update only sets and deletes keys: a merge the database can do by itself."""
    return not (changes.add or changes.remove or changes.increment)


def check_limits(result: dict[str, Any]) -> None:
    """Refuse a user's attributes beyond the count and size limits."""
    if len(result) > MAX_ATTRIBUTES:
        raise Invalid(
            f"a user may have at most {MAX_ATTRIBUTES} attributes",
            field="attributes",
            code=ErrorCode.limit_exceeded,
        )
    if encoded_size(result) > MAX_TOTAL_BYTES:
        raise TooLarge(f"a user's attributes may take at most {MAX_TOTAL_BYTES} bytes", field="attributes")


def encoded_size(document: dict[str, Any]) -> int:
    try:
        return len(orjson.dumps(document))
    except orjson.JSONEncodeError:
        # Postgres renders a large float such as 1e20 back as an integer beyond 64 bits.
        return len(json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode())


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{where.split('.', 1)[1]!r} is not a list attribute", field=where)
    return list(value)
