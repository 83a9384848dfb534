"""The segment condition language, version 1: a JSON tree of groups and conditions.

Structure and types are checked by the Pydantic models below; the rules that tie fields of a
node together (an operator and the value it needs, ranges, limits) are checked by ``check``.
Every failure names the JSON path of the node at fault (``match.all[2].value``).
The language is documented with worked examples in docs/segments.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
)

from app.kit.errors import ErrorCode, Invalid
from app.kit.instants import parse_instant

VERSION = 1
MAX_DEPTH = 10
MAX_NODES = 200
MAX_LIST = 1000
MAX_FILTERS = 10


def storable(value: str) -> str:
    """Refuse text no database column can hold: NUL, and unpaired UTF-16 surrogates."""
    if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError("holds a character that cannot be stored (NUL or an unpaired surrogate)")
    return value


Storable = AfterValidator(storable)
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Integer = Annotated[StrictInt, Field(ge=-(2**63) + 1, le=2**63 - 1)]  # what both databases hold
# ``True`` is a boolean, ``10`` a number and ``"10"`` a string: strict types keep them apart.
Scalar = StrictBool | Integer | Number | Annotated[StrictStr, StringConstraints(max_length=1000), Storable]
Key = Annotated[StrictStr, StringConstraints(min_length=1, max_length=128), Storable]
EventName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200), Storable]
Days = Annotated[int, Field(ge=0, le=36500)]

Op = Literal[
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
    "not_exists",
    "within_last",
    "more_than_ago",
    "within_next",
    "anniversary_within",
]
RELATIVE_OPS = frozenset({"within_last", "more_than_ago", "within_next", "anniversary_within"})
ORDER_OPS = frozenset({"gt", "gte", "lt", "lte", "between"})
PRESENCE_OPS = frozenset({"exists", "not_exists"})
DATE_OPS = ORDER_OPS | RELATIVE_OPS | PRESENCE_OPS

ReservedField = Literal[
    "external_id",
    "email",
    "phone",
    "timezone",
    "locale",
    "country",
    "region",
    "city",
    "first_name",
    "last_name",
    "latitude",
    "longitude",
    "first_seen",
    "last_seen",
]
NUMBER_FIELDS = frozenset({"latitude", "longitude"})
DATE_FIELDS = frozenset({"first_seen", "last_seen"})


class DefinitionError(Exception):
    """A definition that cannot be compiled, with the JSON path of the node at fault."""

    def __init__(self, path: str, message: str, *, limit: bool = False) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
        self.limit = limit

    def to_invalid(self, prefix: str = "definition") -> Invalid:
        field = f"{prefix}.{self.path}" if prefix else self.path
        code = ErrorCode.limit_exceeded if self.limit else ErrorCode.validation_error
        return Invalid(f"{field}: {self.message}", field=field, code=code)


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValueTest(_Node):
    """An operator and its operand: shared by attributes, reserved fields and event properties."""

    op: Op
    value: Scalar | list[Scalar] | None = None
    days: Days | None = None
    as_: Literal["date"] | None = Field(default=None, alias="as")

    @property
    def is_date(self) -> bool:
        return self.as_ == "date" or self.op in RELATIVE_OPS

    def check_value(self, path: str, kind: str | None = None) -> None:
        """``kind`` is the declared type of the operand ("string", "number", "date") or None
        for JSON values, whose comparison type comes from ``value``."""
        date = self.is_date or kind == "date"
        if kind is not None and self.as_ is not None:
            raise DefinitionError(f"{path}.as", "a reserved field has a fixed type; 'as' is for attributes")
        if self.op in RELATIVE_OPS:
            if kind not in (None, "date"):
                raise DefinitionError(f"{path}.op", f"{self.op} needs a date, and this holds {kind}s")
            if self.days is None:
                raise DefinitionError(f"{path}.days", f"{self.op} needs a number of days")
            if self.value is not None:
                raise DefinitionError(f"{path}.value", f"{self.op} takes days, not a value")
            return
        if self.days is not None:
            raise DefinitionError(f"{path}.days", f"days only goes with {', '.join(sorted(RELATIVE_OPS))}")
        if self.op in PRESENCE_OPS:
            if self.value is not None:
                raise DefinitionError(f"{path}.value", f"{self.op} takes no value")
            return
        if self.value is None:
            raise DefinitionError(f"{path}.value", f"{self.op} needs a value")
        values = self._operands(path)
        if date:
            if self.op not in ORDER_OPS:
                raise DefinitionError(f"{path}.op", f"{self.op} does not apply to dates; use {_DATE_HINT}")
            for index, value in enumerate(values):
                if parse_date(value) is None:
                    where = f"{path}.value" + (f"[{index}]" if self.op == "between" else "")
                    raise DefinitionError(where, f"{value!r} is not an ISO 8601 date such as '2025-01-31'")
        else:
            self._check_types(path, values, kind)
        if self.op == "between":
            low, high = (parse_date(v) for v in values) if date else values
            if low > high:  # type: ignore[operator]
                raise DefinitionError(f"{path}.value", "between needs [low, high] with low <= high")

    def _operands(self, path: str) -> list[Any]:
        value = self.value
        if self.op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise DefinitionError(f"{path}.value", f"{self.op} needs a non-empty list of values")
            if len(value) > MAX_LIST:
                raise DefinitionError(f"{path}.value", f"lists are limited to {MAX_LIST} values", limit=True)
            return value
        if self.op == "between":
            if not isinstance(value, list) or len(value) != 2:
                raise DefinitionError(f"{path}.value", "between needs [low, high]")
            return value
        if isinstance(value, list):
            raise DefinitionError(f"{path}.value", f"{self.op} needs a single value, not a list")
        return [value]

    def _check_types(self, path: str, values: list[Any], kind: str | None) -> None:
        names = {type_name(v) for v in values}
        if self.op == "starts_with" and names != {"string"}:
            raise DefinitionError(f"{path}.value", "starts_with needs a string")
        if self.op in ORDER_OPS:
            if names & {"boolean"}:
                raise DefinitionError(f"{path}.value", f"{self.op} compares numbers, strings or dates")
            if len(names) > 1:
                raise DefinitionError(f"{path}.value", "between needs two values of the same type")
        if kind is not None and names - {kind}:
            wrong = next(v for v in values if type_name(v) != kind)
            raise DefinitionError(
                f"{path}.value", f"this field holds {kind}s; {wrong!r} is a {type_name(wrong)}"
            )


_DATE_HINT = "gt, gte, lt, lte, between, within_last, more_than_ago, within_next or anniversary_within"


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def parse_date(value: Any) -> datetime | None:
    return parse_instant(value)


class AttributeCondition(ValueTest):
    """A custom attribute (``users.attributes``) compared by the type of ``value``."""

    type: Literal["attribute"]
    attribute: Key


class FieldCondition(ValueTest):
    """A reserved profile field: text, numbers (latitude/longitude) or instants (first/last seen)."""

    type: Literal["field"]
    field: ReservedField

    @property
    def kind(self) -> str:
        if self.field in NUMBER_FIELDS:
            return "number"
        if self.field in DATE_FIELDS:
            return "date"
        return "string"


class SubscriptionCondition(_Node):
    type: Literal["subscription"]
    channel: Literal["email", "push", "in_app"]
    state: Literal["subscribed", "unsubscribed"] = "subscribed"


class DeviceCondition(_Node):
    """Has an enabled push device, on one platform or any."""

    type: Literal["device"]
    platform: Literal["fcm", "apns", "webpush"] | None = None


class MessageCondition(_Node):
    """Was sent (``received``), opened or clicked a message of campaign ``campaign_id`` (of any
    campaign when absent) in the last ``last_days`` days (ever when absent)."""

    type: Literal["message"]
    action: Literal["received", "opened", "clicked"] = "received"
    campaign_id: uuid.UUID | None = None
    last_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class PropertyFilter(ValueTest):
    property: Key


class Window(_Node):
    """``last_days`` (now - D days <= t <= now), or ``since`` <= t < ``until``; absent: ever."""

    last_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None

    def check(self, path: str) -> None:
        if self.last_days is not None and (self.since or self.until):
            raise DefinitionError(path, "give either last_days or since/until, not both")
        if self.last_days is None and self.since is None and self.until is None:
            raise DefinitionError(path, "a window needs last_days, since or until (leave it out for ever)")
        if self.since and self.until and self.since >= self.until:
            raise DefinitionError(f"{path}.until", "until must be after since")


CountOp = Literal["eq", "neq", "gt", "gte", "lt", "lte", "between"]


class NumberTest(_Node):
    op: CountOp
    value: Number | list[Number]

    def check(self, path: str) -> None:
        if self.op == "between":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise DefinitionError(f"{path}.value", "between needs [low, high]")
            if self.value[0] > self.value[1]:
                raise DefinitionError(f"{path}.value", "between needs [low, high] with low <= high")
        elif isinstance(self.value, list):
            raise DefinitionError(f"{path}.value", f"{self.op} needs a single number")


class CountTest(NumberTest):
    """How many times: ``{"op": "gte", "value": 3}`` is "at least 3 times"."""

    value: Annotated[int, Field(ge=0, le=1_000_000)] | list[Annotated[int, Field(ge=0, le=1_000_000)]]


class _EventScope(_Node):
    name: EventName
    window: Window | None = None
    where: list[PropertyFilter] = Field(default_factory=list, max_length=MAX_FILTERS)

    def check_scope(self, path: str) -> None:
        if self.window is not None:
            self.window.check(f"{path}.window")
        for index, test in enumerate(self.where):
            test.check_value(f"{path}.where[{index}]")


class EventCondition(_EventScope):
    """Did (or did not) do event ``name``, optionally a number of times, in a window."""

    type: Literal["event"]
    did: bool = True
    count: CountTest | None = None

    def check(self, path: str) -> None:
        self.check_scope(path)
        if self.count is not None:
            if not self.did:
                raise DefinitionError(f"{path}.count", "did: false cannot have a count; use count eq 0")
            self.count.check(f"{path}.count")


class AggregateCondition(_EventScope):
    """sum / avg / min / max of a numeric property over the events in scope, compared to a number.
    A user with no such events has a sum of 0 and no avg, min or max."""

    type: Literal["aggregate"]
    property: Key
    function: Literal["sum", "avg", "min", "max"]
    op: CountOp
    value: Number | list[Number]

    def check(self, path: str) -> None:
        self.check_scope(path)
        NumberTest(op=self.op, value=self.value).check(path)


class OccurrenceCondition(_EventScope):
    """When a user first or last did ``name`` (users who never did it do not match)."""

    type: Literal["occurrence"]
    which: Literal["first", "last"]
    op: Literal["gt", "gte", "lt", "lte", "between", "within_last", "more_than_ago"]
    value: Scalar | list[Scalar] | None = None
    days: Days | None = None

    def check(self, path: str) -> None:
        self.check_scope(path)
        self.as_test().check_value(path, "date")

    def as_test(self) -> ValueTest:
        return ValueTest(op=self.op, value=self.value, days=self.days)


class ActivityCondition(_Node):
    """Active (any event) on at least ``at_least`` of the last ``of_last_days`` UTC days, today included."""

    type: Literal["active"]
    at_least: Annotated[int, Field(ge=1, le=366)]
    of_last_days: Annotated[int, Field(ge=1, le=366)]

    def check(self, path: str) -> None:
        if self.at_least > self.of_last_days:
            raise DefinitionError(f"{path}.at_least", "at_least cannot exceed of_last_days")


class NearCondition(_Node):
    """Within ``radius_km`` of a point (great-circle distance from the user's latitude/longitude)."""

    type: Literal["near"]
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    radius_km: Annotated[float, Field(gt=0, le=20040, allow_inf_nan=False)]


class SegmentCondition(_Node):
    """Member of another saved segment. ``resolved`` is filled in by the server (never by
    clients): the referenced definition, kept current when that segment changes."""

    type: Literal["segment"]
    segment_id: uuid.UUID
    resolved: SegmentDefinition | None = None


class RandomBucket(_Node):
    """A stable slice of users: those whose hash of (id, seed) falls in [offset, offset + percent)."""

    type: Literal["random_bucket"]
    seed: Annotated[StrictStr, StringConstraints(min_length=1, max_length=100), Storable]
    percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    offset: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0

    def check(self, path: str) -> None:
        if self.offset + self.percent > 100:
            raise DefinitionError(f"{path}.percent", "offset + percent cannot exceed 100")


class AllGroup(_Node):
    all: list[Node] = Field(max_length=MAX_NODES)


class AnyGroup(_Node):
    any: list[Node] = Field(max_length=MAX_NODES)


class NotGroup(_Node):
    not_: Node = Field(alias="not")


GROUP_KEYS = ("all", "any", "not")


def node_kind(value: Any) -> str | None:
    """The tag of a node: its group key, or its ``type``."""
    if isinstance(value, dict):
        for key in GROUP_KEYS:
            if key in value:
                return key
        kind = value.get("type")
        return kind if isinstance(kind, str) else None
    return _KIND_OF_CLASS.get(type(value))


Node = Annotated[
    Annotated[AllGroup, Tag("all")]
    | Annotated[AnyGroup, Tag("any")]
    | Annotated[NotGroup, Tag("not")]
    | Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[FieldCondition, Tag("field")]
    | Annotated[SubscriptionCondition, Tag("subscription")]
    | Annotated[DeviceCondition, Tag("device")]
    | Annotated[MessageCondition, Tag("message")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[AggregateCondition, Tag("aggregate")]
    | Annotated[OccurrenceCondition, Tag("occurrence")]
    | Annotated[ActivityCondition, Tag("active")]
    | Annotated[NearCondition, Tag("near")]
    | Annotated[SegmentCondition, Tag("segment")]
    | Annotated[RandomBucket, Tag("random_bucket")],
    Discriminator(
        node_kind,
        custom_error_type="unknown_node",
        custom_error_message="unknown condition",
    ),
]
_KIND_OF_CLASS: dict[type, str] = {
    AllGroup: "all",
    AnyGroup: "any",
    NotGroup: "not",
    AttributeCondition: "attribute",
    FieldCondition: "field",
    SubscriptionCondition: "subscription",
    DeviceCondition: "device",
    MessageCondition: "message",
    EventCondition: "event",
    AggregateCondition: "aggregate",
    OccurrenceCondition: "occurrence",
    ActivityCondition: "active",
    NearCondition: "near",
    SegmentCondition: "segment",
    RandomBucket: "random_bucket",
}
CONDITION_TYPES = tuple(kind for kind in _KIND_OF_CLASS.values() if kind not in GROUP_KEYS)


class SegmentDefinition(_Node):
    version: Literal[1]
    match: Node


for _model in (AllGroup, AnyGroup, NotGroup, SegmentCondition, SegmentDefinition):
    _model.model_rebuild()
