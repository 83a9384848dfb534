"""Parse and check a definition; every failure names the JSON path of the bad node."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.segments.definition import (
    CONDITION_TYPES,
    MAX_DEPTH,
    MAX_NODES,
    ActivityCondition,
    AggregateCondition,
    AllGroup,
    AnyGroup,
    AttributeCondition,
    DefinitionError,
    EventCondition,
    FieldCondition,
    NotGroup,
    OccurrenceCondition,
    RandomBucket,
    SegmentCondition,
    SegmentDefinition,
    node_kind,
)

# A group is at most two JSON levels ({"all": [{...}]}), a condition a few more.
MAX_JSON_DEPTH = 2 * MAX_DEPTH + 8


def parse_definition(raw: Any) -> SegmentDefinition:
    """A checked definition from JSON data, or a DefinitionError naming where it is wrong."""
    if isinstance(raw, SegmentDefinition):
        check_definition(raw)
        return raw
    if not isinstance(raw, dict):
        raise DefinitionError("$", 'a definition is an object: {"version": 1, "match": {...}}')
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise DefinitionError("match", f"groups nest at most {MAX_DEPTH} deep", limit=True)
    try:
        definition = SegmentDefinition.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(raw, exc.errors()) from None
    check_definition(definition)
    return definition


def _json_depth(value: Any) -> int:
    """How deeply JSON containers nest, without recursion (the input may be hostile)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            if depth <= MAX_JSON_DEPTH:
                stack.extend((child, depth + 1) for child in children)
    return deepest


def check_definition(definition: SegmentDefinition) -> None:
    """The rules the models cannot state alone: operators and operands, ranges, size limits."""
    for count, (path, node, depth) in enumerate(walk(definition.match, "match"), start=1):
        if count > MAX_NODES:
            raise DefinitionError(path, f"a definition is limited to {MAX_NODES} nodes", limit=True)
        if depth > MAX_DEPTH:
            raise DefinitionError(path, f"groups nest at most {MAX_DEPTH} deep", limit=True)
        _check_node(node, path)


def walk(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any, int]]:
    """Every node below ``node`` (itself included) with its path and depth, depth first.
    Saved-segment references are leaves here: their definitions are checked on their own."""
    yield path, node, depth
    if isinstance(node, AllGroup | AnyGroup):
        key = "all" if isinstance(node, AllGroup) else "any"
        for index, child in enumerate(node.all if isinstance(node, AllGroup) else node.any):
            yield from walk(child, f"{path}.{key}[{index}]", depth + 1)
    elif isinstance(node, NotGroup):
        yield from walk(node.not_, f"{path}.not", depth + 1)


def _check_node(node: Any, path: str) -> None:
    if isinstance(node, FieldCondition):
        node.check_value(path, node.kind)
    elif isinstance(node, AttributeCondition):
        node.check_value(path)
    elif isinstance(
        node, EventCondition | AggregateCondition | OccurrenceCondition | ActivityCondition | RandomBucket
    ):
        node.check(path)
    elif isinstance(node, SegmentCondition) and node.resolved is not None:
        check_definition(node.resolved)


def json_path(raw: Any, loc: Sequence[int | str], error_type: str = "") -> str:
    """Pydantic's error location as a JSON path into ``raw``. Pydantic adds the tag of each
    union it tries (``attribute``, ``int``...); those are not keys in the data and are dropped.
    A node's tag can equal a key (``{"all": [...]}``): the first occurrence is the tag."""
    parts: list[str] = []
    current = raw
    tag_pending = True
    for position, item in enumerate(loc):
        if isinstance(current, dict) and tag_pending and item == node_kind(current):
            tag_pending = False
            continue
        if _has(current, item):
            current = current[item]  # type: ignore[index]
        elif error_type == "missing" and position == len(loc) - 1:
            current = None
        else:
            continue
        parts.append(f"[{item}]" if isinstance(item, int) else (f".{item}" if parts else str(item)))
        tag_pending = True
    return "".join(parts) or "$"


def _has(container: Any, item: int | str) -> bool:
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    return isinstance(container, list) and isinstance(item, int) and 0 <= item < len(container)


def _first_error(raw: Any, errors: list[ErrorDetails]) -> DefinitionError:
    first = errors[0]
    path = json_path(raw, first["loc"], first["type"])
    same_place = [e for e in errors if json_path(raw, e["loc"], e["type"]) == path]
    return DefinitionError(path, _message(first, len(same_place)))


def _message(error: ErrorDetails, alternatives: int) -> str:
    kind, loc, given = error["type"], error["loc"], error.get("input")
    if kind == "unknown_node":
        if isinstance(given, dict) and isinstance(given.get("type"), str):
            return (
                f"unknown condition type {given['type']!r}; use one of {', '.join(CONDITION_TYPES)}, "
                "or a group: all, any, not"
            )
        return 'a node is a group ({"all": [...]}, {"any": [...]}, {"not": {...}}) or has a \'type\''
    if kind == "literal_error" and tuple(loc) == ("version",):
        return f"unsupported version {given!r}; this server reads version 1"
    if kind == "literal_error" and loc and loc[-1] == "op":
        return f"unknown operator {given!r}; {error['msg'].replace('Input should be', 'use')}"
    if kind == "extra_forbidden":
        return f"unknown field {loc[-1]!r}"
    if kind == "missing":
        return "required"
    if alternatives > 1:
        return "wrong value type: give a string, a number, true/false, or a list of those"
    return error["msg"]
