"""Typed comparisons of one operand: a value inside a JSON document (custom attributes, event
properties) or a typed column (reserved fields).

JSON values compare by the type of the condition's value: a string matches only strings, a
number only numbers, a boolean only booleans; ``"10"`` is not ``10``. Strings order by code
point. Each function returns a *positive* predicate in which NULL means "no"; the compiler
negates with ``IS NOT TRUE`` so a missing value never turns a NOT into NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import ColumnOperators

from app.kit.types import UtcDateTime
from app.segments.context import Context
from app.segments.definition import ValueTest, parse_date, type_name
from app.segments.timing import anniversary_month_days, start_of_today

Predicate = ColumnElement[bool]
NEGATED_OPS = {"neq": "eq", "not_in": "in", "not_exists": "exists"}
_NUMBER_TYPES = ("integer", "real")
_ORDER = {
    "gt": ColumnOperators.__gt__,
    "gte": ColumnOperators.__ge__,
    "lt": ColumnOperators.__lt__,
    "lte": ColumnOperators.__le__,
}


def split_op(op: str) -> tuple[str, bool]:
    """``neq`` is ``eq`` negated, and so on: the compiler applies the negation."""
    return (NEGATED_OPS[op], True) if op in NEGATED_OPS else (op, False)


def json_test(doc: Any, key: str, test: ValueTest, ctx: Context) -> Predicate:
    """``test`` on ``doc[key]``. A negative operator (neq, not_in, not_exists) is tested as its
    positive twin; the compiler applies the negation (see ``split_op``)."""
    operand: _PgJson | _SqliteJson = _PgJson(doc, key) if ctx.postgres else _SqliteJson(doc, key)
    op, _ = split_op(test.op)
    if op == "exists":
        return operand.exists()
    if test.is_date:
        return operand.instant(lambda instant: date_test(instant, op, test, ctx))
    value = test.value
    if op == "eq":
        return operand.eq(value)
    if op == "in":
        assert isinstance(value, list)
        return operand.one_of(value)
    if op == "contains":
        return operand.contains(value)
    if op == "starts_with":
        assert isinstance(value, str)
        return operand.starts_with(value)
    low, high = _bounds(op, value)
    return and_(*(operand.order(o, v) for o, v in (low, high) if o is not None))


def column_test(column: Any, kind: str, test: ValueTest, ctx: Context) -> Predicate:
    """``test`` on a typed column (``kind``: "string", "number" or "date"), positive form."""
    op, _ = split_op(test.op)
    value = test.value
    if op == "exists":
        return column.is_not(None)
    if kind == "date":
        return date_test(column, op, test, ctx)
    if op == "eq":
        return column == value
    if op == "in":
        assert isinstance(value, list)
        return column.in_(value)
    if op == "contains":
        position = func.strpos(column, value) if ctx.postgres else func.instr(column, value)
        return position > 0
    if op == "starts_with":
        assert isinstance(value, str)
        return _starts_with(column, value, ctx)
    if kind == "string" and ctx.postgres:
        column = column.collate("C")
    low, high = _bounds(op, value)
    return and_(*(_ORDER[o](column, v) for o, v in (low, high) if o is not None))


def date_test(instant: Any, op: str, test: ValueTest, ctx: Context) -> Predicate:
    """A date operator on an instant expression (a column, or a parsed JSON string)."""
    now = ctx.now

    def at(moment: datetime) -> Any:
        return literal(moment, UtcDateTime)

    if op == "within_last":
        return and_(instant >= at(now - timedelta(days=_days(test))), instant <= at(now))
    if op == "more_than_ago":
        return instant < at(now - timedelta(days=_days(test)))
    if op == "within_next":
        return and_(instant >= at(now), instant <= at(now + timedelta(days=_days(test))))
    if op == "anniversary_within":
        month_day = (
            func.to_char(func.timezone("UTC", instant), "MM-DD")
            if ctx.postgres
            else func.substr(instant, 6, 5)
        )
        return and_(
            month_day.in_(anniversary_month_days(_days(test), now)), instant < at(start_of_today(now))
        )
    low, high = _bounds(op, test.value)
    parts = [_ORDER[o](instant, at(_instant(v))) for o, v in (low, high) if o is not None]
    return and_(*parts)


def _bounds(op: str, value: Any) -> tuple[tuple[str | None, Any], tuple[str | None, Any]]:
    if op == "between":
        return ("gte", value[0]), ("lte", value[1])
    return (op, value), (None, None)


def _days(test: ValueTest) -> int:
    assert test.days is not None
    return test.days


def _instant(value: Any) -> datetime:
    instant = parse_date(value)
    assert instant is not None, "checked by validation"
    return instant


def _starts_with(text: Any, prefix: str, ctx: Context) -> Predicate:
    if ctx.postgres:
        return func.starts_with(text, prefix)
    return func.substr(text, 1, len(prefix)) == prefix


class _PgJson:
    """``doc -> key`` in a JSONB document; jsonb equality and ordering are already typed."""

    def __init__(self, doc: Any, key: str) -> None:
        self.doc = type_coerce(doc, JSONB)
        self.key = key
        self.node = self.doc[key]

    def _is(self, json_type: str) -> Predicate:
        return func.jsonb_typeof(self.node) == json_type

    def exists(self) -> Predicate:
        return func.jsonb_typeof(self.node) != "null"

    def eq(self, value: Any) -> Predicate:
        # Containment is typed ({"n": 10} does not contain {"n": "10"}) and GIN-indexable.
        return self.doc.contains({self.key: value})

    def one_of(self, values: Sequence[Any]) -> Predicate:
        return type_coerce(literal(list(values), JSONB), JSONB).contains(func.jsonb_build_array(self.node))

    def order(self, op: str, value: Any) -> Predicate:
        if type_name(value) == "number":
            return and_(self._is("number"), _ORDER[op](self.node, literal(value, JSONB)))
        return and_(self._is("string"), _ORDER[op](self.node.astext.collate("C"), value))

    def contains(self, value: Any) -> Predicate:
        in_list = self.node.contains([value])
        if isinstance(value, str):
            return or_(and_(self._is("string"), func.strpos(self.node.astext, value) > 0), in_list)
        return in_list

    def starts_with(self, prefix: str) -> Predicate:
        return and_(self._is("string"), func.starts_with(self.node.astext, prefix))

    def instant(self, test: Callable[[Any], Predicate]) -> Predicate:
        return test(type_coerce(func.nudge_instant(self.node.astext), UtcDateTime))


class _SqliteJson:
    """The member ``key`` of a JSON document, found with ``json_each`` (exact for any key,
    including quotes and non-ASCII, which SQLite's path syntax cannot express)."""

    def __init__(self, doc: Any, key: str) -> None:
        self.doc = doc
        self.key = key

    def _where(self, test: Callable[[Any], Predicate]) -> Predicate:
        member = func.json_each(self.doc).table_valued("key", "value", "type").alias()
        found = select(literal(1)).select_from(member).where(member.c.key == self.key, test(member))
        return found.correlate_except(member).exists()

    def exists(self) -> Predicate:
        return self._where(lambda m: m.c.type != "null")

    def eq(self, value: Any) -> Predicate:
        return self._where(lambda m: _sqlite_equals(m, value))

    def one_of(self, values: Sequence[Any]) -> Predicate:
        return self._where(lambda m: _sqlite_one_of(m, values))

    def order(self, op: str, value: Any) -> Predicate:
        types = _NUMBER_TYPES if type_name(value) == "number" else ("text",)
        return self._where(lambda m: and_(m.c.type.in_(types), _ORDER[op](m.c.value, value)))

    def contains(self, value: Any) -> Predicate:
        def test(member: Any) -> Predicate:
            element = func.json_each(member.c.value).table_valued("value", "type").alias()
            in_list = and_(
                member.c.type == "array",
                select(literal(1))
                .select_from(element)
                .where(_sqlite_equals(element, value))
                .correlate_except(element)
                .exists(),
            )
            if isinstance(value, str):
                return or_(and_(member.c.type == "text", func.instr(member.c.value, value) > 0), in_list)
            return in_list

        return self._where(test)

    def starts_with(self, prefix: str) -> Predicate:
        return self._where(
            lambda m: and_(m.c.type == "text", func.substr(m.c.value, 1, len(prefix)) == prefix)
        )

    def instant(self, test: Callable[[Any], Predicate]) -> Predicate:
        return self._where(
            lambda m: and_(m.c.type == "text", test(type_coerce(func.nudge_instant(m.c.value), UtcDateTime)))
        )


def _sqlite_equals(member: Any, value: Any) -> Predicate:
    kind = type_name(value)
    if kind == "boolean":
        return member.c.type == ("true" if value else "false")
    if kind == "number":
        return and_(member.c.type.in_(_NUMBER_TYPES), member.c.value == value)
    return and_(member.c.type == "text", member.c.value == value)


def _sqlite_one_of(member: Any, values: Sequence[Any]) -> Predicate:
    booleans = sorted({"true" if v else "false" for v in values if type_name(v) == "boolean"})
    numbers = [v for v in values if type_name(v) == "number"]
    strings = [v for v in values if type_name(v) == "string"]
    parts: list[Predicate] = []
    if booleans:
        parts.append(member.c.type.in_(booleans))
    if numbers:
        parts.append(and_(member.c.type.in_(_NUMBER_TYPES), member.c.value.in_(numbers)))
    if strings:
        parts.append(and_(member.c.type == "text", member.c.value.in_(strings)))
    return or_(*parts) if parts else false()
