"""Saved-segment references: ``{"type": "segment", "segment_id": ...}``.

A stored definition embeds the current definition of every segment it references (the
``resolved`` member), so it compiles without lookups (campaigns snapshot audiences from it).
Resolution refuses unknown segments and cycles; changing a segment re-resolves the segments
that embed it, in the same transaction, so the copies never go stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Segment
from app.segments.definition import (
    AllGroup,
    AnyGroup,
    DefinitionError,
    NotGroup,
    SegmentCondition,
    SegmentDefinition,
)


def resolve(
    session: Session, definition: SegmentDefinition, *, self_id: uuid.UUID | None = None
) -> SegmentDefinition:
    """A copy of ``definition`` with every reference resolved from the saved segments.
    ``self_id`` is the segment being saved, so a reference back to it is a cycle."""
    stack = (self_id,) if self_id is not None else ()
    return _Resolver(session).definition(definition, stack)


def to_stored(definition: SegmentDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


def authored(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored definition as its author wrote it: without the embedded copies."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            is_reference = value.get("type") == "segment"
            return {k: strip(v) for k, v in value.items() if not (is_reference and k == "resolved")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(stored)


def referenced_ids(stored: dict[str, Any], *, deep: bool) -> set[uuid.UUID]:
    """Segments a definition refers to: directly, or (``deep``) also through embedded copies."""
    return set(_references(stored, deep))


def _references(value: Any, deep: bool) -> Iterator[uuid.UUID]:
    if isinstance(value, dict):
        if value.get("type") == "segment" and isinstance(value.get("segment_id"), str):
            yield uuid.UUID(value["segment_id"])
            if not deep:
                return
        for item in value.values():
            yield from _references(item, deep)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item, deep)


def refresh_dependents(session: Session, changed: Segment) -> None:
    """Re-resolve every saved segment that embeds ``changed`` (directly or not)."""
    for segment in session.scalars(select(Segment).order_by(Segment.id)):
        if segment.id != changed.id and changed.id in referenced_ids(segment.definition, deep=True):
            fresh = SegmentDefinition.model_validate(authored(segment.definition))
            segment.definition = to_stored(resolve(session, fresh, self_id=segment.id))


class _Resolver:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.names: dict[uuid.UUID, str] = {}

    def definition(self, definition: SegmentDefinition, stack: tuple[uuid.UUID, ...]) -> SegmentDefinition:
        return definition.model_copy(update={"match": self.node(definition.match, stack, "match")})

    def node(self, node: Any, stack: tuple[uuid.UUID, ...], path: str) -> Any:
        if isinstance(node, AllGroup):
            return node.model_copy(
                update={"all": [self.node(c, stack, f"{path}.all[{i}]") for i, c in enumerate(node.all)]}
            )
        if isinstance(node, AnyGroup):
            return node.model_copy(
                update={"any": [self.node(c, stack, f"{path}.any[{i}]") for i, c in enumerate(node.any)]}
            )
        if isinstance(node, NotGroup):
            return node.model_copy(update={"not_": self.node(node.not_, stack, f"{path}.not")})
        if isinstance(node, SegmentCondition):
            return node.model_copy(update={"resolved": self.reference(node.segment_id, stack, path)})
        return node

    def reference(self, segment_id: uuid.UUID, stack: tuple[uuid.UUID, ...], path: str) -> SegmentDefinition:
        where = f"{path}.segment_id"
        if segment_id in stack:
            loop = [*stack[stack.index(segment_id) :], segment_id]
            names = " -> ".join(self._name(s) for s in loop)
            raise DefinitionError(where, f"segments cannot refer to themselves: {names}")
        segment = self.session.scalars(select(Segment).where(Segment.id == segment_id)).first()
        if segment is None:
            raise DefinitionError(where, f"unknown segment {segment_id}")
        self.names[segment_id] = segment.name
        inner = SegmentDefinition.model_validate(authored(segment.definition))
        return self.definition(inner, (*stack, segment_id))

    def _name(self, segment_id: uuid.UUID) -> str:
        if segment_id not in self.names:
            name = self.session.scalars(select(Segment.name).where(Segment.id == segment_id)).first()
            self.names[segment_id] = name or "this segment"
        return repr(self.names[segment_id])
