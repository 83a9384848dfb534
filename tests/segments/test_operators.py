"""Every operator and condition on a small hand-made world, on Postgres and SQLite.

Expected members are worked out by hand from docs/segments.md; each case also checks the
one-user form of the statement and the Python reference against the same rows. A second
workspace holds the same people (external ids prefixed ``other-``) and must never appear.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.segments.seed import add_device, add_events, add_user
from tests.segments.world import evaluate

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
EVERYONE = {"pro", "free", "ten", "bare", "null"}


def seed_world(session: Session, workspace_id: Any, prefix: str = "") -> None:
    pro = add_user(
        session,
        workspace_id,
        f"{prefix}pro",
        attributes={
            "plan": "pro",
            "age": 34,
            "score": 7.5,
            "vip": True,
            "tags": ["vip", "beta"],
            "signup": "2024-03-20",
            "renewal": "2025-03-20T00:00:00+01:00",
            "nick": "Zoë",
            "birthday": "1990-03-17",
        },
        country="DE",
        city="München",
        email="ann@example.com",
        latitude=52.52,
        longitude=13.405,
        first_seen_at=datetime(2023, 3, 15, 9, 0, tzinfo=UTC),
        last_seen_at=NOW - DAY,
        push_status="unsubscribed",
    )
    free = add_user(
        session,
        workspace_id,
        f"{prefix}free",
        attributes={
            "plan": "free",
            "age": "34",
            "score": 10,
            "vip": False,
            "tags": ["beta"],
            "signup": "2025-03-10T08:00:00Z",
            "nick": "zoe",
            "birthday": "1992-02-29",
        },
        country="AT",
        city="Wien",
        latitude=48.2082,
        longitude=16.3738,
        first_seen_at=NOW - 30 * DAY,
        last_seen_at=NOW - 30 * DAY,
        email_status="unsubscribed",
    )
    ten = add_user(
        session,
        workspace_id,
        f"{prefix}ten",
        attributes={
            "plan": "10",
            "age": 10,
            "tags": "vip",
            "nick": "日本語テキスト",
            "signup": "not a date",
            "score": True,
        },
        email="ten@example.org",
        first_seen_at=NOW - 10 * DAY,
        last_seen_at=NOW,
    )
    add_user(
        session,
        workspace_id,
        f"{prefix}bare",
        country="US",
        city="New York",
        latitude=40.7128,
        longitude=-74.006,
    )
    add_user(session, workspace_id, f"{prefix}null", attributes={"plan": None, "age": None})
    buy, open_ = "buy", "open"
    add_events(
        session,
        workspace_id,
        [
            {
                "user_id": pro,
                "name": buy,
                "occurred_at": NOW - 30 * DAY,
                "properties": {"value": 50, "currency": "EUR"},
            },
            {"user_id": pro, "name": buy, "occurred_at": NOW - 29 * DAY, "properties": {"value": 30.5}},
            {
                "user_id": pro,
                "name": buy,
                "occurred_at": NOW - DAY,
                "properties": {"value": 40, "coupon": True},
            },
            {"user_id": pro, "name": open_, "occurred_at": NOW - timedelta(hours=1)},
            {"user_id": pro, "name": open_, "occurred_at": NOW - DAY},
            {"user_id": pro, "name": open_, "occurred_at": NOW - 2 * DAY - timedelta(hours=1)},
            {
                "user_id": free,
                "name": buy,
                "occurred_at": NOW - 30 * DAY - timedelta(microseconds=1),
                "properties": {"value": 100},
            },
            {"user_id": free, "name": buy, "occurred_at": NOW - 2 * DAY, "properties": {"value": "100"}},
            {"user_id": free, "name": open_, "occurred_at": NOW - 6 * DAY},
            {"user_id": ten, "name": open_, "occurred_at": NOW - 5 * DAY},
            {"user_id": ten, "name": open_, "occurred_at": NOW - 6 * DAY},
            {"user_id": ten, "name": open_, "occurred_at": NOW - 7 * DAY},
            {"user_id": ten, "name": "view", "occurred_at": NOW - 100 * DAY},
        ],
    )
    add_device(session, workspace_id, pro, "apns")
    add_device(session, workspace_id, free, "fcm", enabled=False)
    add_device(session, workspace_id, ten, "webpush")


def attr(name: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"type": "attribute", "attribute": name, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def field(name: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node = {"type": "field", "field": name, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def event(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "event", "name": name, **extra}


def aggregate(function: str, op: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "aggregate",
        "name": "buy",
        "property": "value",
        "function": function,
        "op": op,
        "value": value,
        **extra,
    }


BERLIN = {"latitude": 52.52, "longitude": 13.405}
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # attributes: typed equality ("10" is not 10, true is not 1)
    ("eq string", attr("plan", "eq", "pro"), {"pro"}),
    ("eq '10' is a string", attr("plan", "eq", "10"), {"ten"}),
    ("eq 10 is a number", attr("age", "eq", 10), {"ten"}),
    ("eq '34' only matches the string", attr("age", "eq", "34"), {"free"}),
    ("eq 34 only matches the number", attr("age", "eq", 34), {"pro"}),
    ("eq 34.0 equals 34", attr("age", "eq", 34.0), {"pro"}),
    ("eq true", attr("vip", "eq", True), {"pro"}),
    ("eq false", attr("vip", "eq", False), {"free"}),
    ("eq 1 is not true", attr("score", "eq", 1), set()),
    ("neq includes missing and null", attr("plan", "neq", "pro"), EVERYONE - {"pro"}),
    ("in mixed types", attr("age", "in", [34, "10"]), {"pro"}),
    ("in strings", attr("plan", "in", ["pro", "free"]), {"pro", "free"}),
    ("not_in", attr("plan", "not_in", ["pro", "10"]), {"free", "bare", "null"}),
    ("contains list element or substring", attr("tags", "contains", "vip"), {"pro", "ten"}),
    ("contains is not substring of list items", attr("tags", "contains", "bet"), set()),
    ("contains substring", attr("nick", "contains", "o"), {"pro", "free"}),
    ("contains unicode", attr("nick", "contains", "ë"), {"pro"}),
    ("contains CJK", attr("nick", "contains", "テキ"), {"ten"}),
    ("starts_with is case sensitive", attr("nick", "starts_with", "Zo"), {"pro"}),
    ("starts_with CJK", attr("nick", "starts_with", "日本"), {"ten"}),
    ("gt number skips strings", attr("age", "gt", 30), {"pro"}),
    ("gte edge", attr("age", "gte", 34), {"pro"}),
    ("lt", attr("age", "lt", 34), {"ten"}),
    ("lte edge", attr("age", "lte", 10), {"ten"}),
    ("gt string", attr("plan", "gt", "m"), {"pro"}),
    ("gt string by code point", attr("nick", "gt", "z"), {"free", "ten"}),
    ("between numbers skips booleans", attr("score", "between", [7, 10]), {"pro", "free"}),
    ("exists", attr("plan", "exists"), {"pro", "free", "ten"}),
    ("not_exists: missing or null", attr("plan", "not_exists"), {"bare", "null"}),
    ("date gt", attr("signup", "gt", "2024-12-31", **{"as": "date"}), {"free"}),
    (
        "date between",
        attr("signup", "between", ["2024-03-20", "2024-03-20T00:00:01Z"], **{"as": "date"}),
        {"pro"},
    ),
    ("within_last", attr("signup", "within_last", days=7), {"free"}),
    ("more_than_ago", attr("signup", "more_than_ago", days=30), {"pro"}),
    ("within_next with offset", attr("renewal", "within_next", days=5), {"pro"}),
    ("anniversary within 3 days", attr("birthday", "anniversary_within", days=3), {"pro"}),
    ("anniversary today", attr("birthday", "anniversary_within", days=0), set()),
    # reserved fields
    ("country eq", field("country", "eq", "DE"), {"pro"}),
    ("country neq includes unknown", field("country", "neq", "DE"), EVERYONE - {"pro"}),
    ("country in", field("country", "in", ["DE", "AT"]), {"pro", "free"}),
    ("city unicode", field("city", "eq", "München"), {"pro"}),
    ("region exists", field("region", "exists"), set()),
    ("email exists", field("email", "exists"), {"pro", "ten"}),
    ("email not_exists", field("email", "not_exists"), {"free", "bare", "null"}),
    ("email contains", field("email", "contains", "example.org"), {"ten"}),
    ("email starts_with", field("email", "starts_with", "ann"), {"pro"}),
    ("city gt by code point", field("city", "gt", "N"), {"free", "bare"}),
    ("latitude gt", field("latitude", "gt", 50), {"pro"}),
    ("latitude between", field("latitude", "between", [40, 50]), {"free", "bare"}),
    ("first_seen within 30 days, edge in", field("first_seen", "within_last", days=30), {"free", "ten"}),
    (
        "first_seen more than 30 days, edge out",
        field("first_seen", "more_than_ago", days=30),
        {"pro", "bare", "null"},
    ),
    ("last_seen gte edge", field("last_seen", "gte", "2025-03-14T12:00:00Z"), {"pro", "ten"}),
    ("sign-up anniversary today", field("first_seen", "anniversary_within", days=0), {"pro"}),
    ("subscribed to email", {"type": "subscription", "channel": "email"}, EVERYONE - {"free"}),
    ("unsubscribed from push", {"type": "subscription", "channel": "push", "state": "unsubscribed"}, {"pro"}),
    ("any enabled device", {"type": "device"}, {"pro", "ten"}),
    ("apns device", {"type": "device", "platform": "apns"}, {"pro"}),
    ("disabled devices do not count", {"type": "device", "platform": "fcm"}, set()),
    # behaviour
    ("did ever", event("buy"), {"pro", "free"}),
    ("did in 30 days", event("buy", window={"last_days": 30}), {"pro", "free"}),
    ("did not", event("buy", did=False), {"ten", "bare", "null"}),
    (
        "at least 3 in 30 days, edge in",
        event("buy", count={"op": "gte", "value": 3}, window={"last_days": 30}),
        {"pro"},
    ),
    ("at least 3 in 29 days", event("buy", count={"op": "gte", "value": 3}, window={"last_days": 29}), set()),
    (
        "exactly 0",
        event("buy", count={"op": "eq", "value": 0}, window={"last_days": 30}),
        {"ten", "bare", "null"},
    ),
    (
        "at most 1",
        event("buy", count={"op": "lte", "value": 1}, window={"last_days": 30}),
        EVERYONE - {"pro"},
    ),
    ("count between", event("buy", count={"op": "between", "value": [1, 2]}), {"free"}),
    ("count neq", event("buy", count={"op": "neq", "value": 3}), EVERYONE - {"pro"}),
    (
        "property filter in window",
        event("buy", where=[{"property": "value", "op": "gt", "value": 45}], window={"last_days": 30}),
        {"pro"},
    ),
    (
        "property '100' is a string",
        event("buy", where=[{"property": "value", "op": "eq", "value": "100"}]),
        {"free"},
    ),
    ("property boolean", event("buy", where=[{"property": "coupon", "op": "eq", "value": True}]), {"pro"}),
    (
        "property neq includes missing",
        event(
            "buy",
            where=[{"property": "currency", "op": "neq", "value": "EUR"}],
            count={"op": "gte", "value": 2},
        ),
        {"pro", "free"},
    ),
    (
        "since inclusive, until exclusive",
        event("buy", window={"since": "2025-02-13T12:00:00Z", "until": "2025-02-14T12:00:00Z"}),
        {"pro"},
    ),
    ("sum over window", aggregate("sum", "gt", 100, window={"last_days": 30}), {"pro"}),
    ("sum of nothing is 0", aggregate("sum", "lt", 100, window={"last_days": 30}), EVERYONE - {"pro"}),
    ("sum eq", aggregate("sum", "eq", 120.5, window={"last_days": 30}), {"pro"}),
    ("avg", aggregate("avg", "gte", 40), {"pro", "free"}),
    ("min", aggregate("min", "lt", 40), {"pro"}),
    ("max", aggregate("max", "gte", 100), {"free"}),
    ("avg of nothing never matches", aggregate("avg", "lt", 1000), {"pro", "free"}),
    ("not avg", {"not": aggregate("avg", "lt", 1000)}, {"ten", "bare", "null"}),
    ("sum between", aggregate("sum", "between", [100, 121]), {"pro", "free"}),
    (
        "first occurrence before",
        {"type": "occurrence", "name": "buy", "which": "first", "op": "lt", "value": "2025-02-13T12:00:00Z"},
        {"free"},
    ),
    (
        "last occurrence within 1 day",
        {"type": "occurrence", "name": "buy", "which": "last", "op": "within_last", "days": 1},
        {"pro"},
    ),
    (
        "last open more than 5 days ago",
        {"type": "occurrence", "name": "open", "which": "last", "op": "more_than_ago", "days": 5},
        {"free"},
    ),
    (
        "never did it: no occurrence",
        {"not": {"type": "occurrence", "name": "view", "which": "first", "op": "gt", "value": "2000-01-01"}},
        EVERYONE - {"ten"},
    ),
    # activity
    ("active 3 of 3 days", {"type": "active", "at_least": 3, "of_last_days": 3}, {"pro"}),
    ("active 3 of 7, day 8 out", {"type": "active", "at_least": 3, "of_last_days": 7}, {"pro"}),
    ("active 2 of 7", {"type": "active", "at_least": 2, "of_last_days": 7}, {"pro", "free", "ten"}),
    ("active 3 of 8", {"type": "active", "at_least": 3, "of_last_days": 8}, {"pro", "ten"}),
    ("not active", {"not": {"type": "active", "at_least": 1, "of_last_days": 30}}, {"bare", "null"}),
    # geo
    ("near 10 km", {"type": "near", **BERLIN, "radius_km": 10}, {"pro"}),
    ("near 600 km", {"type": "near", **BERLIN, "radius_km": 600}, {"pro", "free"}),
    ("near 520 km", {"type": "near", **BERLIN, "radius_km": 520}, {"pro"}),
    (
        "not near: unknown location counts as not near",
        {"not": {"type": "near", **BERLIN, "radius_km": 10}},
        EVERYONE - {"pro"},
    ),
    # random buckets
    ("bucket 100%", {"type": "random_bucket", "seed": "s", "percent": 100}, EVERYONE),
    ("bucket 0%", {"type": "random_bucket", "seed": "s", "percent": 0}, set()),
    # groups
    ("all of nothing", {"all": []}, EVERYONE),
    ("any of nothing", {"any": []}, set()),
    ("not any of nothing", {"not": {"any": []}}, EVERYONE),
    ("any", {"any": [field("country", "eq", "DE"), attr("plan", "eq", "10")]}, {"pro", "ten"}),
    ("not eq is neq", {"not": attr("plan", "eq", "pro")}, EVERYONE - {"pro"}),
    ("double not", {"not": {"not": attr("plan", "eq", "pro")}}, {"pro"}),
    (
        "combined with not",
        {
            "all": [
                attr("tags", "contains", "beta"),
                {"not": event("buy", count={"op": "gte", "value": 3}, window={"last_days": 30})},
            ]
        },
        {"free"},
    ),
    (
        "or of activity and demographics",
        {
            "any": [
                {"type": "active", "at_least": 3, "of_last_days": 8},
                {"all": [field("country", "eq", "AT"), attr("age", "exists")]},
            ]
        },
        {"pro", "ten", "free"},
    ),
    (
        "not of an or",
        {"not": {"any": [event("buy"), {"type": "device"}]}},
        {"bare", "null"},
    ),
    (
        "same condition twice shares one table",
        {"any": [event("buy", did=False), {"all": [event("buy"), field("country", "eq", "DE")]}]},
        {"pro", "ten", "bare", "null"},
    ),
]


@pytest.fixture
def seeded(tenant, other_tenant, owner_engine):  # type: ignore[no-untyped-def]
    with Session(owner_engine) as session, session.begin():
        seed_world(session, tenant.workspace_id)
        seed_world(session, other_tenant.workspace_id, prefix="other-")
    return tenant.workspace_id


@pytest.mark.smoke
@pytest.mark.parametrize(("label", "condition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_condition(database, seeded, label, condition, expected):
    answers = evaluate(database, seeded, {"version": 1, "match": condition}, NOW)
    assert answers.members == expected
    assert answers.one_by_one == expected
    assert answers.reference == expected


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2025, 2, 27, 9, tzinfo=UTC), {"free"}),  # 28 Feb stands in for 29 Feb in 2025
        (datetime(2028, 2, 27, 9, tzinfo=UTC), set()),  # 2028 has a 29 Feb, two days away
        (datetime(2028, 2, 28, 9, tzinfo=UTC), {"free"}),
    ],
)
def test_leap_day_anniversary(database, seeded, now, expected):
    condition = attr("birthday", "anniversary_within", days=1)
    answers = evaluate(database, seeded, {"version": 1, "match": condition}, now)
    assert answers.members == answers.one_by_one == answers.reference == expected
