"""Batch ingest through the bulk path: users created once and widened, message ids stored once,
also when batches race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.events import service
from app.models import Event, User

START = datetime(2026, 11, 1, tzinfo=UTC)


def _batch(client, tenant, events):
    response = client.post("/v1/events/batch", json={"events": events}, headers=tenant.secret_headers)
    assert response.status_code == 200, response.text
    return response.json()


def _at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def _users(database, tenant) -> dict[str, User]:
    with database.transaction(tenant.workspace_id) as session:
        return {user.external_id: user for user in session.scalars(select(User))}


def _events(database, tenant) -> list[Event]:
    with database.transaction(tenant.workspace_id) as session:
        return list(session.scalars(select(Event)))


@pytest.mark.smoke
def test_unknown_users_are_created_once_spanning_their_events(client, tenant, database):
    body = _batch(
        client,
        tenant,
        [
            {"user_id": "new", "name": "e", "timestamp": _at(3)},
            {"user_id": "new", "name": "e", "timestamp": _at(1)},
            {"user_id": "other", "name": "e", "timestamp": _at(2)},
            {"user_id": "new", "name": "e", "timestamp": _at(2)},
        ],
    )
    assert body["accepted"] == 4
    users = _users(database, tenant)
    assert sorted(users) == ["new", "other"]
    assert (users["new"].first_seen_at, users["new"].last_seen_at) == (
        START + timedelta(hours=1),
        START + timedelta(hours=3),
    )
    assert users["new"].subscriptions == {"email": "subscribed", "push": "subscribed", "in_app": "subscribed"}
    by_user = {user.id: key for key, user in users.items()}
    assert sorted(by_user[event.user_id] for event in _events(database, tenant)) == [
        "new",
        "new",
        "new",
        "other",
    ]


@pytest.mark.smoke
def test_known_users_are_widened_not_recreated(client, tenant, database):
    _batch(client, tenant, [{"user_id": "u1", "name": "e", "timestamp": _at(10)}])
    (before,) = _users(database, tenant).values()
    _batch(client, tenant, [{"user_id": "u1", "name": "e", "timestamp": _at(h)} for h in (5, 12, 11)])
    (after,) = _users(database, tenant).values()
    assert after.id == before.id
    assert (after.first_seen_at, after.last_seen_at) == (
        START + timedelta(hours=5),
        START + timedelta(hours=12),
    )
    _batch(client, tenant, [{"user_id": "u1", "name": "e", "timestamp": _at(8)}])  # inside the span
    (unchanged,) = _users(database, tenant).values()
    assert (unchanged.first_seen_at, unchanged.last_seen_at) == (after.first_seen_at, after.last_seen_at)


@pytest.mark.smoke
def test_message_ids_are_stored_once_within_and_across_batches(client, tenant, database):
    first = _batch(
        client,
        tenant,
        [
            {"user_id": "u1", "name": "a", "message_id": "m-2"},
            {"user_id": "u2", "name": "b", "message_id": "m-1"},
            {"user_id": "u1", "name": "c", "message_id": "m-2"},
            {"user_id": "u1", "name": "d"},
            {"user_id": "u1", "name": "e"},
        ],
    )
    assert [r["status"] for r in first["results"]] == [
        "accepted",
        "accepted",
        "duplicate",
        "accepted",
        "accepted",
    ]
    second = _batch(
        client,
        tenant,
        [
            {"user_id": "u3", "name": "f", "message_id": "m-1"},
            {"user_id": "u3", "name": "g", "message_id": "m-3"},
        ],
    )
    assert [r["status"] for r in second["results"]] == ["duplicate", "accepted"]
    stored = {event.id: event.name for event in _events(database, tenant)}
    accepted = [r["id"] for body in (first, second) for r in body["results"] if r["status"] == "accepted"]
    assert sorted(str(i) for i in stored) == sorted(accepted)
    assert sorted(stored.values()) == ["a", "b", "d", "e", "g"]
    assert "u3" in _users(database, tenant)  # a duplicate still says the user was seen


@pytest.mark.parametrize("users_known", [True, False])
def test_racing_batches_share_message_ids_and_users_without_deadlock(database, tenant, users_known):
    """Two batches naming the same users and message ids in opposite orders, started together,
    several times: each message id is stored once, each user created once. With known users
    both reach the event insert at once, so only its message-id order keeps them apart."""
    rounds, size = 5, 200
    for round_ in range(rounds):
        now = datetime.now(UTC)
        if users_known:
            with database.transaction(tenant.workspace_id) as session:
                warm = [{"user_id": f"r{round_}-u{n}", "name": "first"} for n in range(50)]
                service.ingest(session, [service.parse_item(raw, now) for raw in warm], now)
        items = [
            {"user_id": f"r{round_}-u{n % 50}", "name": "e", "message_id": f"r{round_}-m{n}"}
            for n in range(size)
        ]
        orders = [items, list(reversed(items))]
        barrier = threading.Barrier(len(orders))
        results: list[list[object]] = []
        errors: list[BaseException] = []

        def send(batch, barrier=barrier, results=results, errors=errors, now=now):
            try:
                tracked = [service.parse_item(raw, now) for raw in batch]
                with database.transaction(tenant.workspace_id) as session:
                    barrier.wait()
                    results.append(service.ingest(session, tracked, now))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(order,)) for order in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        assert sum(event_id is not None for ids in results for event_id in ids) == size
    assert len(_events(database, tenant)) == rounds * (size + 50 * users_known)
    assert len(_users(database, tenant)) == rounds * 50
