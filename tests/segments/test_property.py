"""Property test: random users, events, devices and definitions; the database's answer (set
form and one-user form) equals the plain-Python reference on the same rows.

Values are drawn from small pools that collide on purpose: "10" and 10 and 10.0 and true,
unicode, dates exactly on window edges, malformed dates, nulls and lists. A second workspace
holds a copy of the same rows and must never leak into the answer.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.kit.db import SYSTEM_KEY, scope_to_system, scope_to_workspace
from app.segments.definition import DefinitionError
from app.segments.validation import parse_definition
from tests.segments.seed import add_device, add_events, add_user
from tests.segments.world import evaluate_in

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
WINDOWS = [1, 3, 7, 30]
# Mostly exactly on a window's edge (D days ago) or on the first day of an activity window.
AGES = [timedelta(days=d) for d in (0, 1, 2, 3, 6, 7, 29, 30, 400)]
NUDGES = [timedelta(0)] * 4 + [timedelta(microseconds=1), -timedelta(microseconds=1), timedelta(hours=13)]
KEYS = ["plan", "n", "tags", "d", "größe"]
STRINGS = ["pro", "Pro", "10", "", "ü", "日本", "zoe", "z", "2025-03-10"]
NUMBERS = [10, 10.0, 0, -3, 2.5, 34, 100.5]
DATES = [
    "2025-03-08T12:00:00Z",  # exactly 7 days before now
    "2025-03-08T12:00:00.000001+00:00",
    "2025-03-15",
    "2025-03-16T01:00:00+02:00",
    "2024-02-29",
    "1990-03-17",
    "1990-03-15T23:30:00-01:00",
    "2025-02-30",
    "2025-03-15T12:00",
    "not a date",
]
SCALARS = st.sampled_from([*STRINGS, *NUMBERS, True, False, *DATES])
JSON_VALUES = st.one_of(
    SCALARS,
    st.none(),
    st.lists(st.sampled_from(["vip", "beta", "10", 10, True, "ü"]), max_size=3),
)
MOMENTS = st.builds(lambda age, nudge: NOW - age + nudge, st.sampled_from(AGES), st.sampled_from(NUDGES))
POINTS = [(52.52, 13.405), (48.2082, 16.3738), (52.4, 13.1), (-33.87, 151.21)]


def user_strategy() -> st.SearchStrategy[dict[str, Any]]:
    point = st.sampled_from([None, *POINTS])
    return st.fixed_dictionaries(
        {
            "attributes": st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=4),
            "country": st.sampled_from([None, "DE", "AT", "US"]),
            "city": st.sampled_from([None, "Wien", "München", "Berlin"]),
            "email": st.sampled_from([None, "a@example.com", "b@example.org"]),
            "point": point,
            "first_seen_at": MOMENTS,
            "last_seen_at": MOMENTS,
            "email_status": st.sampled_from(["subscribed", "unsubscribed"]),
            "events": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["buy", "open"]),
                        "occurred_at": MOMENTS,
                        "properties": st.dictionaries(
                            st.sampled_from(["value", "plan"]),
                            st.sampled_from([*NUMBERS, "10", "pro", True, None]),
                            max_size=2,
                        ),
                    }
                ),
                max_size=6,
            ),
            "devices": st.lists(
                st.tuples(st.sampled_from(["fcm", "apns", "webpush"]), st.booleans()), max_size=2
            ),
        }
    )


def value_test(draw: st.DrawFn, key_name: str, key: str) -> dict[str, Any]:
    op = draw(
        st.sampled_from(
            [
                "eq", "neq", "in", "not_in", "contains", "starts_with", "gt", "gte", "lt", "lte",
                "between", "exists", "not_exists", "date", "within_last", "more_than_ago",
                "within_next", "anniversary_within",
            ]
        )
    )  # fmt: skip
    node: dict[str, Any] = {key_name: key}
    if op in ("eq", "neq", "contains"):
        node |= {"op": op, "value": draw(SCALARS)}
    elif op in ("in", "not_in"):
        node |= {"op": op, "value": draw(st.lists(SCALARS, min_size=1, max_size=3))}
    elif op == "starts_with":
        node |= {"op": op, "value": draw(st.sampled_from(STRINGS))}
    elif op in ("gt", "gte", "lt", "lte"):
        node |= {"op": op, "value": draw(st.sampled_from([*STRINGS, *NUMBERS]))}
    elif op == "between":
        pool = draw(st.sampled_from([STRINGS, NUMBERS]))
        node |= {"op": op, "value": sorted(draw(st.lists(st.sampled_from(pool), min_size=2, max_size=2)))}
    elif op in ("exists", "not_exists"):
        node |= {"op": op}
    elif op == "date":
        valid = [v for v in DATES if parse_definition_date(v)]
        node |= {
            "op": draw(st.sampled_from(["gt", "gte", "lt", "lte"])),
            "value": draw(st.sampled_from(valid)),
        }
        node["as"] = "date"
    else:
        node |= {"op": op, "days": draw(st.sampled_from([0, 1, 3, 7, 30, 400]))}
    return node


def parse_definition_date(value: str) -> bool:
    from app.kit.instants import parse_instant

    return parse_instant(value) is not None


@st.composite
def leaf(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "attribute",
                "field",
                "event",
                "aggregate",
                "occurrence",
                "active",
                "device",
                "near",
                "bucket",
                "sub",
            ]
        )
    )
    window = draw(st.one_of(st.none(), st.sampled_from(WINDOWS).map(lambda d: {"last_days": d})))
    scope: dict[str, Any] = {"name": draw(st.sampled_from(["buy", "open"]))}
    if window:
        scope["window"] = window
    if draw(st.booleans()):
        scope["where"] = [value_test(draw, "property", draw(st.sampled_from(["value", "plan"])))]
    if kind == "attribute":
        return {"type": "attribute", **value_test(draw, "attribute", draw(st.sampled_from(KEYS)))}
    if kind == "field":
        name, value = draw(
            st.sampled_from(
                [
                    ("country", {"op": "eq", "value": "DE"}),
                    ("country", {"op": "in", "value": ["DE", "AT"]}),
                    ("city", {"op": "gt", "value": "M"}),
                    ("city", {"op": "contains", "value": "ü"}),
                    ("email", {"op": "not_exists"}),
                    ("email", {"op": "starts_with", "value": "a@"}),
                    ("latitude", {"op": "between", "value": [48, 52.5]}),
                    ("first_seen", {"op": "within_last", "days": 7}),
                    ("last_seen", {"op": "more_than_ago", "days": 30}),
                    ("first_seen", {"op": "anniversary_within", "days": 3}),
                    ("last_seen", {"op": "gte", "value": "2025-03-14T12:00:00Z"}),
                ]
            )
        )
        return {"type": "field", "field": name, **value}
    if kind == "event":
        node = {"type": "event", **scope}
        if draw(st.booleans()):
            op = draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]))
            node["count"] = {"op": op, "value": draw(st.integers(0, 3))}
        else:
            node["did"] = draw(st.booleans())
        return node
    if kind == "aggregate":
        return {
            "type": "aggregate",
            **scope,
            "property": "value",
            "function": draw(st.sampled_from(["sum", "avg", "min", "max"])),
            "op": draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"])),
            "value": draw(st.sampled_from([0, 10, 20, 2.5, 100.5, 110.5])),
        }
    if kind == "occurrence":
        op = draw(st.sampled_from(["gt", "lt", "within_last", "more_than_ago"]))
        bound = {"days": draw(st.sampled_from(WINDOWS))} if op in ("within_last", "more_than_ago") else {}
        if not bound:
            bound = {"value": draw(st.sampled_from(["2025-03-08T12:00:00Z", "2025-02-13T12:00:00Z"]))}
        return {
            "type": "occurrence",
            **scope,
            "which": draw(st.sampled_from(["first", "last"])),
            "op": op,
            **bound,
        }
    if kind == "active":
        days = draw(st.sampled_from(WINDOWS))
        return {"type": "active", "at_least": draw(st.integers(1, min(days, 3))), "of_last_days": days}
    if kind == "device":
        return {"type": "device", "platform": draw(st.sampled_from([None, "fcm", "apns", "webpush"]))}
    if kind == "near":
        latitude, longitude = draw(st.sampled_from(POINTS))
        return {
            "type": "near",
            "latitude": latitude,
            "longitude": longitude,
            "radius_km": draw(st.sampled_from([1, 20, 600])),
        }
    if kind == "bucket":
        return {
            "type": "random_bucket",
            "seed": draw(st.sampled_from(["a", "b"])),
            "percent": draw(st.sampled_from([10, 50, 90])),
        }
    return {
        "type": "subscription",
        "channel": "email",
        "state": draw(st.sampled_from(["subscribed", "unsubscribed"])),
    }


TREES = st.recursive(
    leaf(),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda c: {"all": c}),
        st.lists(children, max_size=3).map(lambda c: {"any": c}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=6,
)


def seed(session: Any, workspace_id: Any, people: list[dict[str, Any]], prefix: str) -> None:
    for index, person in enumerate(people):
        fields = {k: v for k, v in person.items() if k not in ("events", "devices", "point")}
        if person["point"] is not None:
            fields["latitude"], fields["longitude"] = person["point"]
        user_id = add_user(session, workspace_id, f"{prefix}u{index}", **fields)
        add_events(session, workspace_id, [{"user_id": user_id, **e} for e in person["events"]])
        for platform, enabled in person["devices"]:
            add_device(session, workspace_id, user_id, platform, enabled=enabled)


@pytest.mark.smoke
@settings(
    max_examples=int(os.environ.get("SEGMENT_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    people=st.lists(user_strategy(), min_size=1, max_size=8), trees=st.lists(TREES, min_size=1, max_size=5)
)
def test_sql_equals_reference(database, tenant, other_tenant, people, trees):
    definitions = []
    for tree in trees:
        definition = {"version": 1, "match": tree}
        try:
            parse_definition(definition)
        except DefinitionError:
            continue
        definitions.append(definition)
    assume(definitions)
    with database.session() as session:
        scope_to_system(session)
        session.connection()
        seed(session, tenant.workspace_id, people, "")
        seed(session, other_tenant.workspace_id, people, "other-")
        session.info.pop(SYSTEM_KEY)
        scope_to_workspace(session, tenant.workspace_id)
        try:
            for definition in definitions:
                answers = evaluate_in(session, tenant.workspace_id, definition, NOW)
                assert answers.members == answers.reference, definition
                assert answers.one_by_one == answers.reference, definition
        finally:
            session.rollback()
