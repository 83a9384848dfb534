"""The campaign document: audience, variants, schedule, limits and goal, validated once here.

The same models validate the API body and re-read the stored JSON in the planner, so a stored
campaign always parses.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.kit.validators import ExternalId

ChannelName = Literal["push", "email", "in_app", "webhook"]
PastZones = Literal["next_day", "skip", "send_if_within"]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
VariantKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
MAX_EXPLICIT_USERS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Audiences ------------------------------------------------------------------------------------


class AllUsers(_Strict):
    type: Literal["all"]


class UserList(_Strict):
    type: Literal["users"]
    external_ids: list[ExternalId] = Field(min_length=1, max_length=MAX_EXPLICIT_USERS)


class SavedSegment(_Strict):
    type: Literal["segment"]
    segment_id: uuid.UUID


class InlineSegment(_Strict):
    type: Literal["definition"]
    definition: dict[str, Any]


Audience = Annotated[AllUsers | UserList | SavedSegment | InlineSegment, Field(discriminator="type")]


# Variants -------------------------------------------------------------------------------------


class Variant(_Strict):
    key: VariantKey
    weight: int = Field(default=1, ge=1, le=10_000)
    content: dict[str, Any] = Field(description="Channel fields; strings are Jinja templates over `user`")


# Schedules ------------------------------------------------------------------------------------


class _PastZonePolicy(_Strict):
    past_zones: PastZones = Field(
        default="next_day",
        description="Zones whose moment has passed at launch: the next day, skip them, or send at "
        "once if no later than `grace_minutes`.",
    )
    grace_minutes: int = Field(default=60, ge=1, le=24 * 60)


class Immediate(_Strict):
    type: Literal["immediate"]


class AtInstant(_Strict):
    type: Literal["at"]
    at: AwareDatetime


class LocalTime(_PastZonePolicy):
    type: Literal["local"]
    date: dt.date
    time: dt.time = Field(description="Wall time in each user's zone (workspace zone if unknown)")


class Recurring(_PastZonePolicy):
    type: Literal["recurring"]
    frequency: Literal["daily", "weekly", "monthly"]
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=list, description="0 = Monday")
    day_of_month: int | None = Field(default=None, ge=1, le=31, description="Short months use their last day")
    time: dt.time
    local: bool = Field(default=True, description="Wall time per user zone; false: a UTC time")
    start_date: dt.date
    end_date: dt.date | None = None

    @model_validator(mode="after")
    def _rule_complete(self) -> Recurring:
        if self.frequency == "weekly" and not self.weekdays:
            raise ValueError("weekly schedules need weekdays")
        if self.frequency == "monthly" and self.day_of_month is None:
            raise ValueError("monthly schedules need day_of_month")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class PropertyFilter(_Strict):
    property: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    op: Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "contains", "exists"] = "eq"
    value: Any = None


class Triggered(_Strict):
    type: Literal["triggered"]
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    delay_minutes: int | None = Field(default=None, ge=0, le=60 * 24 * 90)
    at_local_time: dt.time | None = Field(
        default=None, description="Send at the next HH:MM in the user's zone"
    )
    expiry_minutes: int | None = Field(
        default=None, ge=1, le=60 * 24 * 90, description="Not sent later than this after the event"
    )
    reentry: Literal["once", "every_n_days"] = "once"
    reentry_days: int = Field(default=1, ge=1, le=3650)

    @model_validator(mode="after")
    def _one_timing(self) -> Triggered:
        if self.delay_minutes is not None and self.at_local_time is not None:
            raise ValueError("choose delay_minutes or at_local_time, not both")
        return self


class Optimal(_PastZonePolicy):
    type: Literal["optimal"]
    date: dt.date
    fallback_time: dt.time = Field(description="Local time for users with no engagement history")
    engagement_events: list[EventName] = Field(
        default_factory=lambda: ["session_start", "app_open", "message_opened", "message_clicked"],
        min_length=1,
        max_length=20,
    )


Schedule = Annotated[
    Immediate | AtInstant | LocalTime | Recurring | Triggered | Optimal, Field(discriminator="type")
]


# Limits and goal ------------------------------------------------------------------------------


class Limits(_Strict):
    # Up to the workspace rate's own ceiling (1,000,000 a second): a lower one would cap a
    # campaign below what the workers can send.
    per_minute: int | None = Field(default=None, ge=1, le=60_000_000, description="Campaign throttle")
    expire_after_minutes: int | None = Field(
        default=None, ge=1, le=60 * 24 * 30, description="Not sent later than this after its planned time"
    )
    quiet_hours: Literal["defer", "drop", "ignore"] = "defer"
    frequency_cap_exempt: bool = Field(default=False, description="Skips the caps but still counts")


GoalPropertyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


class Goal(_Strict):
    event: EventName
    window_hours: int = Field(default=72, ge=1, le=24 * 90)
    after: Literal["delivery", "open"] = Field(
        default="delivery", description="The window starts at the send (or planned send), or at the open"
    )
    properties: dict[GoalPropertyName, str | int | float | bool] = Field(
        default_factory=dict, max_length=10, description="Event properties that must equal these values"
    )


# Winner roll-out -------------------------------------------------------------------------------

RolloutMetric = Literal["opened", "clicked", "converted"]


class Rollout(_Strict):
    """Send to a test share first; ``wait_hours`` after each zone's test wave, the rest of the
    audience gets the winning variant."""

    test_percent: float = Field(gt=0, lt=100, description="Share of the audience in the test")
    wait_hours: int = Field(ge=1, le=24 * 30, description="Hours from the test send to the roll-out")
    metric: RolloutMetric = Field(description="Unique opens, clicks or goal conversions per user sent")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="Significance level of the winner")
    fallback_variant: VariantKey | None = Field(
        default=None,
        description="Sent when no variant wins significantly; unset: the best observed rate",
    )


# Requests and answers -------------------------------------------------------------------------

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


def _unique_keys(variants: list[Variant] | None) -> list[Variant] | None:
    if variants is not None and len({v.key for v in variants}) != len(variants):
        raise ValueError("variant keys must be unique")
    return variants


class CampaignCreate(_Strict):
    name: Name
    channel: ChannelName
    audience: Audience
    variants: list[Variant] = Field(min_length=1, max_length=16)
    control_percent: float = Field(default=0.0, ge=0, lt=100)
    schedule: Schedule
    limits: Limits = Field(default_factory=Limits)
    goal: Goal | None = None
    rollout: Rollout | None = None

    _keys = field_validator("variants")(_unique_keys)


class CampaignUpdate(_Strict):
    """Partial update. Content, audience, schedule and channel change only while a draft."""

    name: Name | None = None
    channel: ChannelName | None = None
    audience: Audience | None = None
    variants: list[Variant] | None = Field(default=None, min_length=1, max_length=16)
    control_percent: float | None = Field(default=None, ge=0, lt=100)
    schedule: Schedule | None = None
    limits: Limits | None = None
    goal: Goal | None = None
    rollout: Rollout | None = None

    _keys = field_validator("variants")(_unique_keys)


DRAFT_ONLY_FIELDS = frozenset({"channel", "audience", "variants", "control_percent", "schedule", "rollout"})


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    channel: str
    status: str
    audience: dict[str, Any]
    variants: list[dict[str, Any]]
    control_percent: float
    schedule: dict[str, Any]
    limits: dict[str, Any]
    goal: dict[str, Any] | None
    rollout: dict[str, Any] | None
    launched_at: dt.datetime | None
    finished_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CampaignPage(BaseModel):
    data: list[CampaignOut]
    next_cursor: str | None


class ZoneWave(BaseModel):
    zone: str
    send_at: dt.datetime | None = Field(description="UTC instant; null: this zone is skipped")
    users: int


class HourTotal(BaseModel):
    hour: dt.datetime
    users: int


class SchedulePreview(BaseModel):
    occurrence: str
    total: int
    skipped: int
    zones: list[ZoneWave]
    hours: list[HourTotal]


class DeliveryCounts(BaseModel):
    total: int
    by_status: dict[str, int]
    by_variant: dict[str, dict[str, int]]
