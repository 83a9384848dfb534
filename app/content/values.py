"""Type checks for a variable's values: its default, each rule's and each variant's."""

from __future__ import annotations

import math
from typing import Any

from app.kit.errors import Invalid


def check(type_: str, value: Any, field: str) -> None:
    """422 naming ``field`` unless ``value`` is of ``type_`` (``True`` is not a number)."""
    if type_ == "json":
        return
    if type_ == "string":
        fits = isinstance(value, str)
    elif type_ == "boolean":
        fits = isinstance(value, bool)
    else:
        fits = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not fits:
        raise Invalid(f"{field}: expected a {type_}, got {_kind(value)}", field=field)


def check_all(type_: str, default: Any, rules: list[dict[str, Any]], variants: list[dict[str, Any]]) -> None:
    check(type_, default, "default")
    for i, rule in enumerate(rules):
        check(type_, rule["value"], f"rules[{i}].value")
    for i, variant in enumerate(variants):
        check(type_, variant["value"], f"variants[{i}].value")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"
