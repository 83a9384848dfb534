"""Checks a journey graph needs all its steps for: every referenced step exists, ids are
unique, every step is reachable, no cycle can run without passing a wait, and each send's
content and each branch's condition are valid. Errors are 422s naming the step's field."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.journeys.schemas import WAITS, Branch, Definition, SegmentEntry, SendStep, edges
from app.kit.errors import Invalid
from app.models import Segment
from app.segments import service as segments
from app.segments.references import to_stored
from app.templating.content import check_channel_content

ROOT = "definition"


def _edge_field(step: Any, outcome: str) -> str:
    if outcome in ("yes", "no"):
        return outcome
    if outcome == "done":
        return "next"
    keys = [p.key for p in step.paths]
    return f"paths[{keys.index(outcome)}].next"


def check(session: Session, definition: Definition) -> Definition:
    """Validate ``definition`` (normalising branch conditions for storage); raises Invalid."""
    index: dict[str, int] = {}
    for i, step in enumerate(definition.steps):
        if step.id in index:
            raise Invalid(f"step id {step.id!r} is used twice", field=f"{ROOT}.steps[{i}].id")
        index[step.id] = i
    if definition.entry.next not in index:
        raise Invalid(f"unknown step id {definition.entry.next!r}", field=f"{ROOT}.entry.next")
    for i, step in enumerate(definition.steps):
        for outcome, target in edges(step):
            if target not in index:
                raise Invalid(
                    f"unknown step id {target!r}", field=f"{ROOT}.steps[{i}].{_edge_field(step, outcome)}"
                )
    _reachable(definition, index)
    _no_instant_cycle(definition, index)
    if isinstance(definition.entry, SegmentEntry):
        _segment_exists(session, definition.entry.segment_id, f"{ROOT}.entry.segment_id")
    for i, step in enumerate(definition.steps):
        if isinstance(step, SendStep):
            for v, variant in enumerate(step.variants):
                check_channel_content(
                    step.channel, variant.content, field=f"{ROOT}.steps[{i}].variants[{v}].content"
                )
        elif isinstance(step, Branch):
            _check_branch(session, step, f"{ROOT}.steps[{i}]")
    return definition


def _reachable(definition: Definition, index: dict[str, int]) -> None:
    seen = {definition.entry.next}
    todo = [definition.entry.next]
    while todo:
        for _, target in edges(definition.steps[index[todo.pop()]]):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    for i, step in enumerate(definition.steps):
        if step.id not in seen:
            raise Invalid(f"step {step.id!r} cannot be reached from the entry", field=f"{ROOT}.steps[{i}].id")


def _no_instant_cycle(definition: Definition, index: dict[str, int]) -> None:
    """A cycle is fine only if it passes a wait; otherwise a user would loop within one tick."""
    steps = definition.steps
    colour: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(step_id: str) -> None:
        colour[step_id] = 1
        step = steps[index[step_id]]
        if not isinstance(step, WAITS):
            for outcome, target in edges(step):
                if colour.get(target) == 1:
                    raise Invalid(
                        f"step {step_id!r} closes a cycle without a wait",
                        field=f"{ROOT}.steps[{index[step_id]}].{_edge_field(step, outcome)}",
                    )
                if target not in colour:
                    visit(target)
        colour[step_id] = 2

    for step in steps:
        if step.id not in colour:
            visit(step.id)


def _segment_exists(session: Session, segment_id: Any, field: str) -> None:
    if session.scalars(select(Segment.id).where(Segment.id == segment_id)).first() is None:
        raise Invalid("no such segment", field=field)


def _check_branch(session: Session, step: Branch, field: str) -> None:
    if step.segment_id is not None:
        _segment_exists(session, step.segment_id, f"{field}.segment_id")
        return
    try:
        step.definition = to_stored(segments.prepare(session, step.definition))
    except Invalid as exc:
        exc.field = f"{field}.definition.{exc.field}" if exc.field else f"{field}.definition"
        raise
