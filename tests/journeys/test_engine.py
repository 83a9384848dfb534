"""The engine's steps, one behaviour each, under a simulated clock."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete

from app.journeys.engine import split_bucket
from app.models import Delivery, JourneyState, Segment, User
from tests.campaigns.helpers import T0, add_users
from tests.fixtures.assertions import ok
from tests.fixtures.factories import stored
from tests.journeys.helpers import Sim, api_journey, enter, paths

BYE = {"id": "bye", "type": "exit"}


def _launch(client, tenant, body) -> str:
    journey = ok(client.post("/v1/journeys", json=body, headers=tenant.secret_headers), 201)
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=tenant.secret_headers))
    return journey["id"]


def _enter(database, tenant, journey_id, *names, properties=None, now=T0):
    enter(database, tenant.workspace_id, journey_id, names, now=now, properties=properties)


def test_wait_until_is_the_next_local_time_in_each_users_zone(client, database, tenant, sink):
    add_users(
        database,
        tenant.workspace_id,
        [{"external_id": "tokyo", "timezone": "Asia/Tokyo"}, {"external_id": "nozone"}],
    )
    step = {"id": "nine", "type": "wait_until", "time": "09:00", "next": "bye"}
    journey_id = _launch(client, tenant, api_journey([step, BYE]))
    _enter(database, tenant, journey_id, "tokyo", "nozone")
    sink.jobs.clear()
    Sim(database, sink).run(T0)  # 2026-03-01 00:00 UTC = 09:00 in Tokyo
    due = {s.user_id: s.due_at for s in stored(database, tenant, JourneyState)}
    ids = {u.external_id: u.id for u in stored(database, tenant, User)}
    assert due[ids["tokyo"]] == T0  # 09:00 Tokyo is now: the wait ends at once
    assert due[ids["nozone"]] == T0 + timedelta(hours=9)  # the workspace zone (UTC)
    Sim(database, sink).run(T0 + timedelta(hours=9))
    assert {p["status"] for p in paths(database, tenant.workspace_id).values()} == {"exited"}


@pytest.mark.smoke
def test_branch_split_and_attribute_update(client, database, tenant, sink):
    add_users(
        database,
        tenant.workspace_id,
        [{"external_id": f"u{i}", "attributes": {"plan": "pro" if i % 2 else "free"}} for i in range(200)],
    )
    pro = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}}
    steps = [
        {"id": "is_pro", "type": "branch", "definition": pro, "yes": "split", "no": "bye"},
        {
            "id": "split",
            "type": "split",
            "paths": [
                {"key": "a", "percent": 30, "next": "mark"},
                {"key": "b", "percent": 70, "next": "bye"},
            ],
        },
        {"id": "mark", "type": "update_attribute", "attribute": "offer", "value": "30off", "next": "bye"},
        BYE,
    ]
    journey_id = _launch(client, tenant, api_journey(steps))
    _enter(database, tenant, journey_id, *[f"u{i}" for i in range(200)])
    Sim(database, sink).run(T0)
    found = paths(database, tenant.workspace_id)
    users = {u.external_id: u for u in stored(database, tenant, User)}
    splits = Counter()
    for i in range(200):
        user = users[f"u{i}"]
        path = found[f"u{i}#1"]["path"]
        if i % 2 == 0:
            assert path == [("is_pro", "no"), ("bye", "exit")]
            continue
        key = "a" if split_bucket(uuid.UUID(journey_id), "split", user.id) < 30 else "b"
        splits[key] += 1
        if key == "a":
            assert path == [("is_pro", "yes"), ("split", "a"), ("mark", "done"), ("bye", "exit")]
            assert user.attributes == {"plan": "pro", "offer": "30off"}
        else:
            assert path == [("is_pro", "yes"), ("split", "b"), ("bye", "exit")]
            assert user.attributes == {"plan": "pro"}
    assert 15 <= splits["a"] <= 45 and splits["a"] + splits["b"] == 100


def _cart_journey(**overrides):
    body = {
        "name": "Cart",
        "definition": {
            "entry": {
                "type": "event",
                "event": "cart_add",
                "next": "wait",
                "filters": [{"property": "value", "op": "gte", "value": 10}],
            },
            "goals": [{"event": "purchase"}],
            "steps": [
                {
                    "id": "wait",
                    "type": "wait_for_event",
                    "event": "viewed",
                    "timeout": {"hours": 1},
                    "yes": "bye",
                    "no": "later",
                },
                {"id": "later", "type": "wait", "duration": {"days": 1}, "next": "bye"},
                BYE,
            ],
            **overrides,
        },
    }
    return body


def _track(client, tenant, name, event, at, **properties):
    body = {"user_id": name, "name": event, "timestamp": at.isoformat(), "properties": properties}
    ok(client.post("/v1/events", json=body, headers=tenant.secret_headers))


def test_ingest_enters_wakes_and_ends_journeys_without_waiting_for_a_tick(client, database, tenant, sink):
    add_users(database, tenant.workspace_id, [{"external_id": n} for n in ("ann", "bob", "cy", "dee")])
    _launch(client, tenant, _cart_journey())
    sim = Sim(database, sink)
    for name in ("ann", "bob", "cy"):
        _track(client, tenant, name, "cart_add", T0, value=20)
    _track(client, tenant, "dee", "cart_add", T0, value=5)  # filtered out
    assert [j.name for j in sink.jobs].count("journeys.handle_events") == 4
    now = T0 + timedelta(minutes=10)
    run_jobs = sim._execute  # the queued jobs only: no tick
    while sink.jobs:
        sink.jobs.extend(run_jobs(sink.jobs.pop(0), now))
    _track(client, tenant, "ann", "viewed", now)  # ends her wait: yes
    _track(client, tenant, "bob", "purchase", now)  # the goal: out at once
    _track(client, tenant, "cy", "unrelated", now)  # nobody listens: no job
    assert [j.name for j in sink.jobs] == ["journeys.handle_events", "journeys.handle_events"]
    while sink.jobs:
        sink.jobs.extend(run_jobs(sink.jobs.pop(0), now))
    found = paths(database, tenant.workspace_id)
    assert set(found) == {"ann#1", "bob#1", "cy#1"}
    assert found["ann#1"] == {
        "path": [("wait", "yes"), ("bye", "exit")],
        "status": "exited",
        "exit": "exit",
        "at": "bye",
    }
    assert found["bob#1"] == {"path": [("wait", None)], "status": "exited", "exit": "goal", "at": "wait"}
    assert found["cy#1"]["status"] == "active"
    cy = next(s for s in stored(database, tenant, JourneyState) if s.status == "active")
    assert cy.due_at == T0 + timedelta(minutes=10, hours=1)  # still its own time-out


def test_reentry_every_n_days(client, database, tenant, sink):
    add_users(database, tenant.workspace_id, [{"external_id": "ann"}])
    _launch(
        client,
        tenant,
        _cart_journey(
            reentry={"mode": "every_n_days", "days": 2},
            steps=[BYE],
            entry={"type": "event", "event": "cart_add", "next": "bye"},
        ),
    )
    sim = Sim(database, sink)
    for day in (0, 1, 2, 5):  # enters on days 0, 2 and 5; day 1 is too soon
        at = T0 + timedelta(days=day)
        _track(client, tenant, "ann", "cart_add", at)
        sim.run(at)
    assert sorted(paths(database, tenant.workspace_id)) == ["ann#1", "ann#2", "ann#3"]


@pytest.mark.smoke
def test_a_paused_journey_holds_its_users_and_resumes(client, database, tenant, sink):
    add_users(database, tenant.workspace_id, [{"external_id": "ann"}])
    send = {
        "id": "hi",
        "type": "send",
        "channel": "in_app",
        "variants": [{"key": "A", "content": {"body": "Hi {{ event.properties.who }}"}}],
        "next": "bye",
    }
    journey_id = _launch(client, tenant, api_journey([send, BYE]))
    _enter(database, tenant, journey_id, "ann", properties={"who": "there"})
    ok(client.post(f"/v1/journeys/{journey_id}/pause", headers=tenant.secret_headers))
    sink.jobs.clear()
    sim = Sim(database, sink)
    sim.run(T0)
    assert paths(database, tenant.workspace_id)["ann#1"]["path"] == []
    ok(client.post(f"/v1/journeys/{journey_id}/launch", headers=tenant.secret_headers))
    sim.run(T0)
    assert paths(database, tenant.workspace_id)["ann#1"]["path"] == [("hi", "done"), ("bye", "exit")]
    (delivery,) = stored(database, tenant, Delivery)
    assert delivery.status == "sent"
    inbox = ok(client.get("/v1/inbox", headers={**tenant.secret_headers, "X-Nudge-User": "ann"}))
    assert inbox["data"][0]["content"]["body"] == "Hi there"


def test_segment_members_enter_at_the_tick(client, database, tenant, sink):
    add_users(
        database,
        tenant.workspace_id,
        [{"external_id": n, "attributes": {"plan": p}} for n, p in (("ann", "pro"), ("bob", "free"))],
    )
    match = {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}
    segment = ok(
        client.post(
            "/v1/segments",
            json={"name": "Pro", "definition": {"version": 1, "match": match}},
            headers=tenant.secret_headers,
        ),
        201,
    )
    body = api_journey([BYE])
    body["definition"]["entry"] = {"type": "segment", "segment_id": segment["id"], "next": "bye"}
    _launch(client, tenant, body)
    sim = Sim(database, sink)
    sim.run(T0)
    sim.run(T0 + timedelta(minutes=1))  # once ever (the default): no second pass
    assert paths(database, tenant.workspace_id) == {
        "ann#1": {"path": [("bye", "exit")], "status": "exited", "exit": "exit", "at": "bye"}
    }


def test_a_branch_on_a_deleted_segment_takes_no(client, database, tenant, sink):
    add_users(database, tenant.workspace_id, [{"external_id": "ann", "attributes": {"plan": "pro"}}])
    match = {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}
    h = tenant.secret_headers
    segment = ok(
        client.post(
            "/v1/segments", json={"name": "Pro", "definition": {"version": 1, "match": match}}, headers=h
        ),
        201,
    )
    branch = {"id": "pro", "type": "branch", "segment_id": segment["id"], "yes": "bye", "no": "bye"}
    journey_id = _launch(client, tenant, api_journey([branch, BYE]))
    # The API keeps a segment a journey names; gone anyway (removed by hand), it matches no one.
    assert client.delete(f"/v1/segments/{segment['id']}", headers=h).status_code == 409
    with database.transaction(tenant.workspace_id) as session:
        session.execute(delete(Segment).where(Segment.id == uuid.UUID(segment["id"])))
    _enter(database, tenant, journey_id, "ann")
    Sim(database, sink).run(T0)
    assert paths(database, tenant.workspace_id)["ann#1"]["path"] == [("pro", "no"), ("bye", "exit")]


def test_branch_conditions_count_relative_dates_from_the_engines_clock(client, database, tenant, sink):
    # The simulated clock is T0; the real one is months later, when this trial has long ended.
    ends = (T0 + timedelta(days=2)).date().isoformat()
    add_users(database, tenant.workspace_id, [{"external_id": "ann", "attributes": {"trial_ends": ends}}])
    ending = {"type": "attribute", "attribute": "trial_ends", "op": "within_next", "days": 3}
    branch = {"id": "ending", "type": "branch", "definition": {"version": 1, "match": ending}, "yes": "bye",
              "no": "bye"}  # fmt: skip
    journey_id = _launch(client, tenant, api_journey([branch, BYE]))
    _enter(database, tenant, journey_id, "ann")
    Sim(database, sink).run(T0)
    assert paths(database, tenant.workspace_id)["ann#1"]["path"] == [("ending", "yes"), ("bye", "exit")]
