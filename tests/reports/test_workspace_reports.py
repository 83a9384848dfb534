"""Workspace reports on hand-built users, events and deliveries: exact counts per local day."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.campaigns.helpers import add_users
from tests.fixtures.assertions import ok
from tests.reports.helpers import add_deliveries, add_events, make_campaign


def at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def get(client, tenant, path, **params):
    return ok(client.get(f"/v1/reports/{path}", params=params, headers=tenant.secret_headers))


@pytest.mark.smoke
def test_active_users_and_stickiness(client, tenant, database):
    users = add_users(database, tenant.workspace_id, [{"external_id": f"u{i}"} for i in range(4)])
    add_events(
        database,
        tenant.workspace_id,
        [
            (users[0], "open_app", at("2026-03-20"), {}),
            (users[0], "open_app", at("2026-03-20", 13), {}),  # twice: still one user
            (users[1], "open_app", at("2026-03-15"), {}),
            (users[2], "open_app", at("2026-02-25"), {}),
            (users[3], "open_app", at("2026-01-01"), {}),  # outside 30 days
            (users[1], "open_app", at("2026-03-21"), {}),  # after the day asked
        ],
    )
    body = get(client, tenant, "activity", day="2026-03-20")
    assert body == {"zone": "UTC", "day": "2026-03-20", "dau": 1, "wau": 2, "mau": 3, "stickiness": 1 / 3}


@pytest.mark.smoke
def test_daily_new_users_events_and_messages(client, tenant, database):
    users = add_users(
        database,
        tenant.workspace_id,
        [
            {"external_id": "a", "first_seen_at": at("2026-03-01")},
            {"external_id": "b", "first_seen_at": at("2026-03-01", 23)},
            {"external_id": "c", "first_seen_at": at("2026-03-02")},
        ],
    )
    add_events(
        database,
        tenant.workspace_id,
        [
            (users[0], "buy", at("2026-03-01"), {}),
            (users[1], "buy", at("2026-03-01"), {}),
            (users[1], "view", at("2026-03-02"), {}),
        ],
    )
    campaign = make_campaign(client, tenant)
    add_deliveries(
        database,
        tenant.workspace_id,
        campaign,
        [
            {"user_id": users[0], "sent_at": at("2026-03-01"), "channel": "email"},
            {"user_id": users[1], "sent_at": at("2026-03-02"), "channel": "push"},
            {"user_id": users[2], "status": "failed"},
        ],
    )
    body = get(client, tenant, "daily", start="2026-03-01", end="2026-03-02")
    assert body["new_users"] == [
        {"day": "2026-03-01T00:00:00", "count": 2},
        {"day": "2026-03-02T00:00:00", "count": 1},
    ]
    assert body["events"] == [
        {"day": "2026-03-01T00:00:00", "name": "buy", "count": 2},
        {"day": "2026-03-02T00:00:00", "name": "view", "count": 1},
    ]
    assert body["messages"] == [
        {"day": "2026-03-01T00:00:00", "channel": "email", "count": 1},
        {"day": "2026-03-02T00:00:00", "channel": "push", "count": 1},
    ]


@pytest.mark.smoke
def test_weekly_retention_cohorts(client, tenant, database):
    users = add_users(
        database,
        tenant.workspace_id,
        [
            {"external_id": "a", "first_seen_at": at("2026-03-03")},
            {"external_id": "b", "first_seen_at": at("2026-03-04")},
            {"external_id": "c", "first_seen_at": at("2026-03-10")},
            {"external_id": "d", "first_seen_at": at("2026-02-01")},  # before the range
        ],
    )
    add_events(
        database,
        tenant.workspace_id,
        [
            (users[0], "e", at("2026-03-03"), {}),
            (users[0], "e", at("2026-03-10"), {}),
            (users[0], "e", at("2026-03-11"), {}),
            (users[1], "e", at("2026-03-04"), {}),
            (users[1], "e", at("2026-03-18"), {}),
            (users[2], "e", at("2026-03-11"), {}),
            (users[3], "e", at("2026-03-11"), {}),
        ],
    )
    body = get(client, tenant, "retention", weeks=3, end="2026-03-22")
    assert body["cohorts"] == [
        {"cohort": "2026-03-02T00:00:00", "users": 2, "week_0": 2, "week_1": 1, "week_2": 1},
        {"cohort": "2026-03-09T00:00:00", "users": 1, "week_0": 1, "week_1": 0},
        {"cohort": "2026-03-16T00:00:00", "users": 0, "week_0": 0},
    ]


def test_a_backwards_range_is_refused_naming_the_field(client, tenant):
    response = client.get(
        "/v1/reports/daily",
        params={"start": "2026-03-05", "end": "2026-03-01"},
        headers=tenant.secret_headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "end"
