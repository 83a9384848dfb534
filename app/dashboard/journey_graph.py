"""A journey's graph as a tree for the dashboard: each step once, where the walk from the
entry first reaches it, with its counts and its branches; a branch to a step already drawn
(paths joining again, or a loop back through a wait) is a link to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.journeys.schemas import (
    Branch,
    Definition,
    EventEntry,
    SegmentEntry,
    SendStep,
    Split,
    StepCounts,
    UpdateAttribute,
    Wait,
    WaitForEvent,
    WaitUntil,
    edges,
)

TYPE_LABELS = {
    "wait": "Wait",
    "wait_until": "Wait until",
    "wait_for_event": "Wait for event",
    "branch": "Branch",
    "split": "Random split",
    "send": "Send",
    "update_attribute": "Update attribute",
    "exit": "Exit",
}


@dataclass
class Edge:
    label: str
    taken: int | None  # users who took it (None: the step has one way out)
    target: Node | None  # None: the target is drawn elsewhere (``ref``)
    ref: str


@dataclass
class Node:
    id: str
    type: str
    label: str
    summary: str
    counts: StepCounts
    edges: list[Edge] = field(default_factory=list)


def _duration(d: Any) -> str:
    parts = [(d.days, "d"), (d.hours, "h"), (d.minutes, "min")]
    return " ".join(f"{n} {unit}" for n, unit in parts if n)


def summary(step: Any) -> str:
    if isinstance(step, Wait):
        return _duration(step.duration)
    if isinstance(step, WaitUntil):
        return f"next {step.time.strftime('%H:%M')} in the user's zone"
    if isinstance(step, WaitForEvent):
        return f"“{step.event}” within {_duration(step.timeout)}"
    if isinstance(step, Branch):
        return "in the saved segment" if step.segment_id else "matches the condition"
    if isinstance(step, Split):
        return " / ".join(f"{p.key} {p.percent}%" for p in step.paths)
    if isinstance(step, SendStep):
        return f"{step.channel}, {len(step.variants)} variant{'s' if len(step.variants) > 1 else ''}"
    if isinstance(step, UpdateAttribute):
        return f"{step.attribute} = {step.value!r}"
    return ""


def entry_text(definition: Definition) -> str:
    entry = definition.entry
    if isinstance(entry, EventEntry):
        return f"When “{entry.event}” happens" + (" (with filters)" if entry.filters else "")
    if isinstance(entry, SegmentEntry):
        return "When a user joins the segment"
    return "When entered through the API"


def tree(definition: Definition, counts: list[StepCounts]) -> Node:
    steps = definition.by_id()
    by_step = {c.step: c for c in counts}
    drawn: set[str] = set()

    def build(step_id: str) -> Node:
        drawn.add(step_id)
        step = steps[step_id]
        node = Node(step_id, step.type, TYPE_LABELS[step.type], summary(step), by_step[step_id])
        outs = edges(step)
        for outcome, target in outs:
            taken = node.counts.branches.get(outcome) if len(outs) > 1 else None
            label = outcome if len(outs) > 1 else ""
            child = None if target in drawn else build(target)
            node.edges.append(Edge(label, taken, child, target))
        return node

    return build(definition.entry.next)
