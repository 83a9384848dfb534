"""Conditions answered from related rows (events, activity days, devices, deliveries), each described
once as a ``Relation``: which rows, an aggregate over a user's rows, and a test of it.

The compiler turns a Relation into a derived table of user ids when it evaluates everyone,
or into a correlated subquery when it evaluates one user; both read the same description.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, cast, func, literal, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import FromClause

from app.kit.types import UtcDateTime
from app.models import Delivery, Device, Event, UserActivityDay
from app.segments.context import Context
from app.segments.definition import (
    ActivityCondition,
    AggregateCondition,
    DeviceCondition,
    EventCondition,
    MessageCondition,
    NumberTest,
    OccurrenceCondition,
)
from app.segments.operands import Predicate, date_test, json_test, split_op
from app.segments.timing import activity_days, window_bounds

events = Event.__table__
devices = Device.__table__
activity = UserActivityDay.__table__
deliveries = Delivery.__table__
RelationCondition = (
    EventCondition
    | AggregateCondition
    | OccurrenceCondition
    | ActivityCondition
    | DeviceCondition
    | MessageCondition
)
_MESSAGE_TIMES = {
    "received": deliveries.c.sent_at,
    "opened": deliveries.c.opened_at,
    "clicked": deliveries.c.clicked_at,
}

_PYTHON_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass
class Relation:
    source: FromClause
    user_id: Any
    where: list[Predicate]
    # None: the condition is "has at least one row" (no aggregate needed).
    aggregate: ColumnElement[Any] | None = None
    test: Callable[[Any], Predicate] | None = None
    # The aggregate's value for a user without rows (count and sum: 0), and whether the
    # test holds for such a user: then the members are everyone *but* the failing groups.
    empty_value: Any = None
    holds_when_empty: bool = False


def build_relation(node: RelationCondition, ctx: Context) -> Relation:
    if isinstance(node, EventCondition):
        return _event(node, ctx)
    if isinstance(node, AggregateCondition):
        return _aggregate(node, ctx)
    if isinstance(node, OccurrenceCondition):
        return _occurrence(node, ctx)
    if isinstance(node, ActivityCondition):
        return _activity(node, ctx)
    if isinstance(node, MessageCondition):
        return _message(node, ctx)
    return _device(node, ctx)


def _event_scope(
    node: EventCondition | AggregateCondition | OccurrenceCondition, ctx: Context
) -> list[Predicate]:
    """Rows of event ``name`` in the window, passing the property filters. The leading terms
    match the index (workspace_id, name, occurred_at, user_id)."""
    where: list[Predicate] = [events.c.workspace_id == ctx.workspace_id, events.c.name == node.name]
    lower, upper, upper_inclusive = window_bounds(node.window, ctx.now)
    if lower is not None:
        where.append(events.c.occurred_at >= literal(lower, UtcDateTime))
    if upper is not None:
        bound = literal(upper, UtcDateTime)
        where.append(events.c.occurred_at <= bound if upper_inclusive else events.c.occurred_at < bound)
    for test in node.where:
        predicate = json_test(events.c.properties, test.property, test, ctx)
        where.append(predicate.is_not(true()) if split_op(test.op)[1] else predicate)
    return where


def number_test(
    test: NumberTest, sql_type: Any = None
) -> tuple[Callable[[Any], Predicate], Callable[[Any], bool]]:
    """The SQL test and the same test in Python (to decide what a user without rows gets).
    ``sql_type``: the type to bind the operands as (exact decimals for Postgres sums)."""

    def bound(value: Any) -> Any:
        if sql_type is None:
            return value
        return literal(Decimal(repr(value)), sql_type)

    if test.op == "between":
        assert isinstance(test.value, list)
        low, high = test.value
        return (lambda x: and_(x >= bound(low), x <= bound(high))), (lambda x: low <= x <= high)
    value = test.value
    compare = _PYTHON_OPS[test.op]
    return (lambda x: compare(x, bound(value))), (lambda x: compare(x, value))


def _event(node: EventCondition, ctx: Context) -> Relation:
    where = _event_scope(node, ctx)
    if node.count is None:
        # did / did not: one row is enough; "did not" is the compiler's negation of "did".
        return Relation(events, events.c.user_id, where)
    sql_test, python_test = number_test(node.count)
    return Relation(
        events,
        events.c.user_id,
        where,
        aggregate=func.count(),
        test=sql_test,
        empty_value=0,
        holds_when_empty=python_test(0),
    )


def _aggregate(node: AggregateCondition, ctx: Context) -> Relation:
    """Only numeric values take part ("10" is not 10); a user without any has sum 0 and no
    average, minimum or maximum."""
    where = _event_scope(node, ctx)
    source: FromClause = events
    if ctx.postgres:
        member = type_coerce(events.c.properties, JSONB)[node.property]
        where.append(func.jsonb_typeof(member) == "number")
        number: Any = cast(member.astext, Numeric)
    else:
        values = func.json_each(events.c.properties).table_valued("key", "value", "type").alias()
        source = events.join(values, true())
        where += [values.c.key == node.property, values.c.type.in_(("integer", "real"))]
        number = values.c.value
    exact = Numeric() if ctx.postgres else None
    sql_test, python_test = number_test(NumberTest(op=node.op, value=node.value), exact)
    is_sum = node.function == "sum"
    return Relation(
        source,
        events.c.user_id,
        where,
        aggregate=getattr(func, node.function)(number),
        test=sql_test,
        empty_value=literal(0) if is_sum else None,
        holds_when_empty=is_sum and python_test(0),
    )


def _occurrence(node: OccurrenceCondition, ctx: Context) -> Relation:
    where = _event_scope(node, ctx)
    moment = func.min(events.c.occurred_at) if node.which == "first" else func.max(events.c.occurred_at)
    test = node.as_test()
    return Relation(
        events,
        events.c.user_id,
        where,
        aggregate=type_coerce(moment, UtcDateTime),
        test=lambda instant: date_test(instant, test.op, test, ctx),
    )


def _activity(node: ActivityCondition, ctx: Context) -> Relation:
    first, last = activity_days(node.of_last_days, ctx.now)
    where = [activity.c.workspace_id == ctx.workspace_id, activity.c.day >= first, activity.c.day <= last]
    return Relation(
        activity,
        activity.c.user_id,
        where,
        aggregate=func.count(),
        test=lambda days: days >= node.at_least,
        empty_value=0,
    )


def _device(node: DeviceCondition, ctx: Context) -> Relation:
    where = [devices.c.workspace_id == ctx.workspace_id, devices.c.enabled.is_(True)]
    if node.platform is not None:
        where.append(devices.c.platform == node.platform)
    return Relation(devices, devices.c.user_id, where)


def _message(node: MessageCondition, ctx: Context) -> Relation:
    at = _MESSAGE_TIMES[node.action]
    where = [deliveries.c.workspace_id == ctx.workspace_id, at.is_not(None), at <= ctx.now]
    if node.campaign_id is not None:
        where.append(deliveries.c.campaign_id == node.campaign_id)
    if node.last_days is not None:
        where.append(at >= ctx.now - timedelta(days=node.last_days))
    return Relation(deliveries, deliveries.c.user_id, where)
