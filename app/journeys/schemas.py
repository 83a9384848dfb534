"""The journey document (entry, re-entry rule, goals, conversion, steps) and the API's bodies.

The same models validate the API body and re-read a stored version in the engine, so a stored
graph always parses. Graph checks that need every step at once live in app.journeys.graph.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.campaigns.schemas import ChannelName, EventName, PropertyFilter, Variant
from app.campaigns.schemas import Goal as Conversion
from app.kit.schemas import RequestModel
from app.kit.validators import ExternalId

StepId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
MAX_STEPS = 200
MAX_WAIT_DAYS = 365


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Duration(_Strict):
    days: int = Field(default=0, ge=0, le=MAX_WAIT_DAYS)
    hours: int = Field(default=0, ge=0, le=24 * MAX_WAIT_DAYS)
    minutes: int = Field(default=0, ge=0, le=24 * 60 * MAX_WAIT_DAYS)

    @model_validator(mode="after")
    def _positive(self) -> Duration:
        if self.delta <= dt.timedelta(0):
            raise ValueError("a duration must be longer than zero")
        return self

    @property
    def delta(self) -> dt.timedelta:
        return dt.timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


# Entry ----------------------------------------------------------------------------------------


class EventEntry(_Strict):
    type: Literal["event"]
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    next: StepId


class SegmentEntry(_Strict):
    """Users who are members of the segment (checked every tick) enter."""

    type: Literal["segment"]
    segment_id: uuid.UUID
    next: StepId


class ApiEntry(_Strict):
    type: Literal["api"]
    next: StepId


Entry = Annotated[EventEntry | SegmentEntry | ApiEntry, Field(discriminator="type")]


class Reentry(_Strict):
    """once: a user enters at most once ever; every_n_days: again when ``days`` have passed
    since their last entry; whenever: again as soon as their last pass has ended. A user is
    never in the same journey twice at once."""

    mode: Literal["once", "every_n_days", "whenever"] = "once"
    days: int = Field(default=1, ge=1, le=3650)


class Goal(_Strict):
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)


# Steps ----------------------------------------------------------------------------------------


class _Step(_Strict):
    id: StepId


class Wait(_Step):
    type: Literal["wait"]
    duration: Duration
    next: StepId


class WaitUntil(_Step):
    type: Literal["wait_until"]
    time: dt.time = Field(description="The next HH:MM in the user's zone (workspace zone if unknown)")
    next: StepId


class WaitForEvent(_Step):
    type: Literal["wait_for_event"]
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    timeout: Duration
    yes: StepId = Field(description="Taken as soon as the event happens")
    no: StepId = Field(description="Taken when the timeout passes without it")


class Branch(_Step):
    """A segment condition (a definition as in /v1/segments, or a saved segment) on the user."""

    type: Literal["branch"]
    definition: dict[str, Any] | None = None
    segment_id: uuid.UUID | None = None
    yes: StepId
    no: StepId

    @model_validator(mode="after")
    def _one_condition(self) -> Branch:
        if (self.definition is None) == (self.segment_id is None):
            raise ValueError("give either definition or segment_id")
        return self


class SplitPath(_Strict):
    key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    percent: int = Field(ge=1, le=100)
    next: StepId


class Split(_Step):
    type: Literal["split"]
    paths: list[SplitPath] = Field(min_length=2, max_length=10)

    @model_validator(mode="after")
    def _whole(self) -> Split:
        if sum(p.percent for p in self.paths) != 100:
            raise ValueError("split percentages must add up to 100")
        if len({p.key for p in self.paths}) != len(self.paths):
            raise ValueError("split path keys must be distinct")
        return self


class SendStep(_Step):
    type: Literal["send"]
    channel: ChannelName
    variants: list[Variant] = Field(min_length=1, max_length=10)
    next: StepId


class UpdateAttribute(_Step):
    type: Literal["update_attribute"]
    attribute: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    value: Any = None
    next: StepId


class Exit(_Step):
    type: Literal["exit"]


Step = Annotated[
    Wait | WaitUntil | WaitForEvent | Branch | Split | SendStep | UpdateAttribute | Exit,
    Field(discriminator="type"),
]
WAITS = (Wait, WaitUntil, WaitForEvent)


class Definition(_Strict):
    entry: Entry
    reentry: Reentry = Field(default_factory=Reentry)
    goals: list[Goal] = Field(default_factory=list, max_length=10)
    conversion: Conversion | None = Field(
        default=None,
        description="The event that counts as a conversion of each send step's message, attributed "
        "as a campaign's goal (last touch within window_hours)",
    )
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    def by_id(self) -> dict[str, Any]:
        return {step.id: step for step in self.steps}

    def listened_events(self) -> set[str]:
        """Event names that enter users, wake a wait or meet a goal."""
        names = {goal.event for goal in self.goals}
        names |= {s.event for s in self.steps if isinstance(s, WaitForEvent)}
        if isinstance(self.entry, EventEntry):
            names.add(self.entry.event)
        return names


def edges(step: Any) -> list[tuple[str, str]]:
    """A step's outgoing edges as (outcome, next step id)."""
    if isinstance(step, WaitForEvent | Branch):
        return [("yes", step.yes), ("no", step.no)]
    if isinstance(step, Split):
        return [(p.key, p.next) for p in step.paths]
    if isinstance(step, Exit):
        return []
    return [("done", step.next)]


# API bodies -----------------------------------------------------------------------------------


class JourneyCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    definition: Definition


class JourneyUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    definition: Definition | None = Field(
        default=None,
        description="On a launched journey this makes a new version; users in flight stay on theirs",
    )


class EnterBody(RequestModel):
    model_config = ConfigDict(extra="forbid")

    user_id: ExternalId
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Templates read them as event.properties"
    )


class JourneyOut(BaseModel):
    id: uuid.UUID
    name: str
    status: str
    version: int
    definition: dict[str, Any]
    launched_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class JourneyPage(BaseModel):
    data: list[JourneyOut]
    next_cursor: str | None


class Entered(BaseModel):
    entered: bool = Field(description="False when the re-entry rule or a pass in progress kept the user out")


class StepCounts(BaseModel):
    step: str
    type: str
    entered: int
    waiting: int
    exited: int
    branches: dict[str, int]
    messages: dict[str, int] | None = Field(
        default=None,
        description="Send steps: messages per stage (sent, delivered, opened, clicked, converted, failed)",
    )
    campaign_ids: list[uuid.UUID] | None = Field(
        default=None, description="Send steps: the hidden campaigns sending them (one per version)"
    )


class JourneyStats(BaseModel):
    version: int | None
    entered: int
    active: int
    exited: dict[str, int]
    steps: list[StepCounts]
