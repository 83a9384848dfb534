"""A plain-Python evaluator of segment definitions, written from docs/segments.md and sharing
nothing with the SQL compiler but the language models and the ISO date grammar. The tests
check that the database's answer equals this one on the same rows."""

from __future__ import annotations

import calendar
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from app.kit.geo import haversine_a, radius_threshold
from app.kit.instants import parse_instant
from app.segments import definition as d

FIELD_COLUMNS = {"first_seen": "first_seen_at", "last_seen": "last_seen_at"}


@dataclass
class World:
    users: list[dict[str, Any]]
    events: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    now: datetime
    segments: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    def events_of(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e for e in self.events if e["user_id"] == user_id]


def members(world: World, definition: dict[str, Any]) -> set[str]:
    parsed = d.SegmentDefinition.model_validate(definition)
    return {u["external_id"] for u in world.users if holds(parsed.match, u, world)}


def kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def same(a: Any, b: Any) -> bool:
    return kind(a) is not None and kind(a) == kind(b) and a == b


def holds(node: Any, user: dict[str, Any], world: World) -> bool:
    if isinstance(node, d.AllGroup):
        return all(holds(c, user, world) for c in node.all)
    if isinstance(node, d.AnyGroup):
        return any(holds(c, user, world) for c in node.any)
    if isinstance(node, d.NotGroup):
        return not holds(node.not_, user, world)
    if isinstance(node, d.AttributeCondition):
        attributes = user["attributes"]
        return value_test(attributes.get(node.attribute), node.attribute in attributes, node, world.now)
    if isinstance(node, d.FieldCondition):
        value = user[FIELD_COLUMNS.get(node.field, node.field)]
        return column_test(value, node, world.now)
    if isinstance(node, d.SubscriptionCondition):
        return user[f"{node.channel}_status"] == node.state
    if isinstance(node, d.DeviceCondition):
        return any(
            dv["user_id"] == user["id"] and dv["enabled"] and node.platform in (None, dv["platform"])
            for dv in world.devices
        )
    if isinstance(node, d.EventCondition):
        found = len(scoped_events(node, user, world))
        if not node.did:
            return found == 0
        if node.count is None:
            return found > 0
        return number_test(Fraction(found), node.count.op, node.count.value)
    if isinstance(node, d.AggregateCondition):
        values = [
            Fraction(repr(e["properties"][node.property]))
            for e in scoped_events(node, user, world)
            if kind(e["properties"].get(node.property)) == "number"
        ]
        result: Fraction | None
        if node.function == "sum":
            result = sum(values, Fraction(0))
        elif not values:
            result = None
        elif node.function == "avg":
            result = sum(values, Fraction(0)) / len(values)
        else:
            result = min(values) if node.function == "min" else max(values)
        return result is not None and number_test(result, node.op, node.value)
    if isinstance(node, d.OccurrenceCondition):
        times = [e["occurred_at"] for e in scoped_events(node, user, world)]
        if not times:
            return False
        moment = min(times) if node.which == "first" else max(times)
        return date_test(moment, node.op, node.value, node.days, world.now)
    if isinstance(node, d.ActivityCondition):
        today = world.now.astimezone(UTC).date()
        first = today - timedelta(days=node.of_last_days - 1)
        days = {e["occurred_at"].astimezone(UTC).date() for e in world.events_of(user["id"])}
        return len({day for day in days if first <= day <= today}) >= node.at_least
    if isinstance(node, d.NearCondition):
        if user["latitude"] is None or user["longitude"] is None:
            return False
        a = haversine_a(user["latitude"], user["longitude"], node.latitude, node.longitude)
        return a <= radius_threshold(node.radius_km)
    if isinstance(node, d.SegmentCondition):
        inner = world.segments[node.segment_id]
        return holds(d.SegmentDefinition.model_validate(inner).match, user, world)
    if isinstance(node, d.RandomBucket):
        digest = hashlib.sha256(node.seed.encode()).digest()
        prime = 2**31 - 1
        a = 1 + int.from_bytes(digest[:8], "big") % (prime - 1)
        b = int.from_bytes(digest[8:16], "big") % prime
        x = int(user["id"].hex[-8:], 16) % 2**31
        bucket = (a * x + b) % prime % 10_000
        return round(node.offset * 100) <= bucket < round((node.offset + node.percent) * 100)
    raise AssertionError(f"unhandled node {node!r}")


def scoped_events(node: Any, user: dict[str, Any], world: World) -> list[dict[str, Any]]:
    found = []
    for event in world.events_of(user["id"]):
        if event["name"] != node.name:
            continue
        t = event["occurred_at"]
        window = node.window
        if window is not None and window.last_days is not None:
            if not world.now - timedelta(days=window.last_days) <= t <= world.now:
                continue
        elif window is not None:
            if window.since is not None and t < window.since:
                continue
            if window.until is not None and t >= window.until:
                continue
        props = event["properties"]
        if all(value_test(props.get(f.property), f.property in props, f, world.now) for f in node.where):
            found.append(event)
    return found


def number_test(value: Fraction, op: str, operand: Any) -> bool:
    if op == "between":
        return Fraction(repr(operand[0])) <= value <= Fraction(repr(operand[1]))
    other = Fraction(repr(operand))
    return {
        "eq": value == other,
        "neq": value != other,
        "gt": value > other,
        "gte": value >= other,
        "lt": value < other,
        "lte": value <= other,
    }[op]


def value_test(value: Any, present: bool, test: d.ValueTest, now: datetime) -> bool:
    """A JSON value against a test; every negative operator is the exact opposite of its twin."""
    op = test.op
    opposite = {"neq": "eq", "not_in": "in", "not_exists": "exists"}
    if op in opposite:
        twin = test.model_copy(update={"op": opposite[op]})
        return not value_test(value, present, twin, now)
    if op == "exists":
        return present and value is not None
    if test.is_date:
        moment = parse_instant(value)
        return moment is not None and date_test(moment, op, test.value, test.days, now)
    operand = test.value
    if op == "eq":
        return same(value, operand)
    if op == "in":
        return any(same(value, v) for v in operand)
    if op == "contains":
        if isinstance(value, str) and isinstance(operand, str) and operand in value:
            return True
        return isinstance(value, list) and any(same(e, operand) for e in value)
    if op == "starts_with":
        return isinstance(value, str) and value.startswith(operand)
    bounds = [("gte", operand[0]), ("lte", operand[1])] if op == "between" else [(op, operand)]
    return all(kind(value) == kind(v) and compare(value, o, v) for o, v in bounds)


def column_test(value: Any, test: d.FieldCondition, now: datetime) -> bool:
    op = test.op
    opposite = {"neq": "eq", "not_in": "in", "not_exists": "exists"}
    if op in opposite:
        return not column_test(value, test.model_copy(update={"op": opposite[op]}), now)
    if op == "exists":
        return value is not None
    if value is None:
        return False
    if test.kind == "date":
        return date_test(value, op, test.value, test.days, now)
    operand = test.value
    if op == "eq":
        return value == operand
    if op == "in":
        return value in operand
    if op == "contains":
        return operand in value
    if op == "starts_with":
        return value.startswith(operand)
    bounds = [("gte", operand[0]), ("lte", operand[1])] if op == "between" else [(op, operand)]
    return all(compare(value, o, v) for o, v in bounds)


def compare(a: Any, op: str, b: Any) -> bool:
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def date_test(moment: datetime, op: str, operand: Any, days: int | None, now: datetime) -> bool:
    if op == "within_last":
        return now - timedelta(days=days) <= moment <= now
    if op == "more_than_ago":
        return moment < now - timedelta(days=days)
    if op == "within_next":
        return now <= moment <= now + timedelta(days=days)
    if op == "anniversary_within":
        today = now.astimezone(UTC).date()
        if moment >= datetime.combine(today, datetime.min.time(), tzinfo=UTC):
            return False
        when = moment.astimezone(UTC)
        for offset in range(days + 1):
            day = today + timedelta(days=offset)
            if (day.month, day.day) == (when.month, when.day):
                return True
            leap_day = (when.month, when.day) == (2, 29)
            if leap_day and (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
                return True
        return False
    if op == "between":
        return parse_instant(operand[0]) <= moment <= parse_instant(operand[1])
    return compare(moment, op, parse_instant(operand))
