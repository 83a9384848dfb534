"""The abandoned-cart journey for 1,000 users with mixed behaviour, under a simulated clock:
cart_add -> wait 1 h for a purchase -> if none, push; wait 1 day -> email naming the item;
anyone who buys at any point leaves at once. Each user's path is asserted."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from app.models import Delivery
from tests.campaigns.helpers import T0, add_users
from tests.fixtures.assertions import ok
from tests.fixtures.factories import stored
from tests.journeys.helpers import Sim, abandoned_cart, add_devices, paths

USERS = 1000
# Behaviour by user number modulo 5, and the minutes after the cart when they buy.
BUYS_AT = {0: 30, 1: 3 * 60, 2: None, 3: 2 * 24 * 60, 4: None}
NO_CART = 4  # these users never add to a cart


def _post(client, headers, events):
    for start in range(0, len(events), 500):
        ok(client.post("/v1/events/batch", json={"events": events[start : start + 500]}, headers=headers))


def test_abandoned_cart_paths_for_a_thousand_users(client, database, tenant, sink, recording):
    h = tenant.secret_headers
    names = [f"u{i}" for i in range(USERS)]
    ids = add_users(
        database,
        tenant.workspace_id,
        [{"external_id": n, "email": f"{n}@shop.example", "first_name": f"F{n}"} for n in names],
    )
    add_devices(database, tenant.workspace_id, ids)
    journey = ok(client.post("/v1/journeys", json=abandoned_cart(), headers=h), 201)
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    sim = Sim(database, sink)

    carts = [
        {"user_id": n, "name": "cart_add", "timestamp": T0.isoformat(), "properties": {"item": f"item-{i}"}}
        for i, n in enumerate(names)
        if i % 5 != NO_CART
    ]
    _post(client, h, carts)
    sim.run(T0)
    moments = sorted(
        {m for m in BUYS_AT.values() if m is not None} | {60, 61, 25 * 60, 25 * 60 + 1, 3 * 24 * 60}
    )
    for minutes in moments:
        now = T0 + timedelta(minutes=minutes)
        buys = [
            {"user_id": n, "name": "purchase", "timestamp": now.isoformat()}
            for i, n in enumerate(names)
            if BUYS_AT[i % 5] == minutes
        ]
        if buys:
            _post(client, h, buys)
        sim.run(now)

    found = paths(database, tenant.workspace_id)
    received: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    by_id = {u: n for u, n in zip(ids, names, strict=True)}
    for message in recording.messages:
        received[by_id[message.user_id]].append((message.channel, message.content))

    waited_push = [("wait_purchase", "no"), ("push", "done")]
    expected = {
        0: ([("wait_purchase", None)], "goal", "wait_purchase", []),
        1: ([*waited_push, ("wait_day", None)], "goal", "wait_day", ["push"]),
        2: (
            [*waited_push, ("wait_day", "done"), ("email", "done"), ("done", "exit")],
            "exit",
            "done",
            ["push", "email"],
        ),
        3: (
            [*waited_push, ("wait_day", "done"), ("email", "done"), ("done", "exit")],
            "exit",
            "done",
            ["push", "email"],
        ),
    }
    for i, name in enumerate(names):
        if i % 5 == NO_CART:
            assert f"{name}#1" not in found
            assert name not in received
            continue
        path, reason, at, channels = expected[i % 5]
        state = found[f"{name}#1"]
        assert state == {"path": path, "status": "exited", "exit": reason, "at": at}, name
        assert [c for c, _ in received[name]] == channels, name
        for channel, content in received[name]:
            if channel == "push":
                assert content["body"] == f"Your item-{i} is waiting"
            else:
                assert content["subject"] == f"F{name}, your item-{i} is still in your cart"
    assert len(found) == USERS - USERS // 5

    # Every message went through the ledger, once per (step, user, entry).
    deliveries = stored(database, tenant, Delivery)
    assert Counter(d.status for d in deliveries) == {"sent": 200 * 2 + 200 * 2 + 200}
    assert len({(d.campaign_id, d.user_id) for d in deliveries}) == len(deliveries)

    stats = ok(client.get(f"/v1/journeys/{journey['id']}/stats", headers=h))
    steps = {s["step"]: s for s in stats["steps"]}
    assert stats["entered"] == 800
    assert stats["active"] == 0
    assert stats["exited"] == {"goal": 400, "exit": 400}
    assert steps["wait_purchase"] == {
        "step": "wait_purchase",
        "type": "wait_for_event",
        "entered": 800,
        "waiting": 0,
        "exited": 200,
        "branches": {"yes": 0, "no": 600},
        "messages": None,
        "campaign_ids": None,
    }
    assert steps["push"]["entered"] == 600
    assert steps["push"]["messages"]["sent"] == 600
    assert steps["email"]["messages"]["sent"] == 400
    assert steps["wait_day"]["exited"] == 200
    assert steps["email"]["entered"] == 400
    assert steps["done"]["exited"] == 400
