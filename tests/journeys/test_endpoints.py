"""The journeys API: create, validate the graph (422 naming the step's field), versions,
life cycle, entering users, counts."""

from __future__ import annotations

import copy

import pytest

from app.models import Campaign, JourneyState
from tests.campaigns.helpers import add_users
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import stored
from tests.journeys.helpers import abandoned_cart, api_journey

SEND = {
    "id": "hello",
    "type": "send",
    "channel": "in_app",
    "variants": [{"key": "A", "content": {"body": "Hi"}}],
    "next": "bye",
}
BYE = {"id": "bye", "type": "exit"}


@pytest.mark.smoke
def test_create_get_list_and_launch(client, tenant):
    h = tenant.secret_headers
    created = ok(client.post("/v1/journeys", json=abandoned_cart(), headers=h), 201)
    assert created["status"] == "draft" and created["version"] == 1
    assert created["definition"]["steps"][0]["id"] == "wait_purchase"
    assert ok(client.get(f"/v1/journeys/{created['id']}", headers=h)) == created
    assert [j["id"] for j in ok(client.get("/v1/journeys", headers=h))["data"]] == [created["id"]]
    live = ok(client.post(f"/v1/journeys/{created['id']}/launch", headers=h))
    assert live["status"] == "live" and live["launched_at"]
    assert (
        error_of(client.post(f"/v1/journeys/{created['id']}/launch", headers=h), 409)["field"] == "journey_id"
    )


def test_the_hidden_step_campaigns_follow_the_journey_and_stay_out_of_the_campaign_list(
    client, database, tenant
):
    h = tenant.secret_headers
    journey = ok(client.post("/v1/journeys", json=abandoned_cart(), headers=h), 201)
    campaigns = stored(database, tenant, Campaign)
    assert sorted(c.schedule["step"] for c in campaigns) == ["email", "push"]
    assert ok(client.get("/v1/campaigns", headers=h))["data"] == []
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    assert {c.status for c in stored(database, tenant, Campaign)} == {"running"}
    ok(client.post(f"/v1/journeys/{journey['id']}/pause", headers=h))
    assert {c.status for c in stored(database, tenant, Campaign)} == {"paused"}
    pushed = campaigns[0].id
    assert error_of(client.post(f"/v1/campaigns/{pushed}/resume", headers=h), 409)["field"] == "campaign_id"
    ok(client.post(f"/v1/journeys/{journey['id']}/archive", headers=h))
    assert {c.status for c in stored(database, tenant, Campaign)} == {"cancelled"}


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda d: d["steps"][0].update(no="nowhere"), "definition.steps[0].no", "unknown step id"),
        (lambda d: d["entry"].update(next="nowhere"), "definition.entry.next", "unknown step id"),
        (lambda d: d["steps"][0].pop("yes"), "definition.steps[0].yes", "Field required"),
        (lambda d: d["steps"][1].update(id="push"), "definition.steps[2].id", "used twice"),
        (
            lambda d: d["steps"][2]["variants"][0]["content"].pop("body"),
            "definition.steps[2].variants[0].content.body",
            "push content needs body",
        ),
        (
            lambda d: d["steps"][2]["variants"][0]["content"].update(body="{{ oops"),
            "definition.steps[2].variants[0].content.body",
            "",
        ),
        (
            lambda d: d["steps"].append({"id": "orphan", "type": "exit"}),
            "definition.steps[6].id",
            "cannot be reached",
        ),
    ],
)
def test_a_bad_graph_is_refused_naming_the_step(client, tenant, mutate, field, words):
    body = abandoned_cart()
    mutate(body["definition"])
    error = error_of(client.post("/v1/journeys", json=body, headers=tenant.secret_headers), 422)
    assert error["field"] == field, error
    assert words in error["message"]


def test_a_cycle_without_a_wait_is_refused_and_one_through_a_wait_is_not(client, tenant):
    h = tenant.secret_headers
    loop = [
        {"id": "a", "type": "update_attribute", "attribute": "n", "value": 1, "next": "b"},
        {
            "id": "b",
            "type": "split",
            "paths": [{"key": "x", "percent": 50, "next": "a"}, {"key": "y", "percent": 50, "next": "end"}],
        },
        {"id": "end", "type": "exit"},
    ]
    error = error_of(client.post("/v1/journeys", json=api_journey(loop), headers=h), 422)
    assert error["field"] == "definition.steps[1].paths[0].next"
    assert "cycle without a wait" in error["message"]
    loop[0] = {"id": "a", "type": "wait", "duration": {"minutes": 5}, "next": "b"}
    ok(client.post("/v1/journeys", json=api_journey(loop), headers=h), 201)


def test_a_branch_needs_a_valid_condition(client, tenant):
    h = tenant.secret_headers
    branch = {
        "id": "b",
        "type": "branch",
        "definition": {"version": 1, "match": {"type": "nope"}},
        "yes": "bye",
        "no": "bye",
    }
    error = error_of(client.post("/v1/journeys", json=api_journey([branch, BYE]), headers=h), 422)
    assert error["field"].startswith("definition.steps[0].definition")
    del branch["definition"]
    error = error_of(client.post("/v1/journeys", json=api_journey([branch, BYE]), headers=h), 422)
    assert "definition or segment_id" in error["message"]


def test_editing_a_live_journey_makes_a_version_and_users_in_flight_keep_theirs(client, database, tenant):
    h = tenant.secret_headers
    add_users(database, tenant.workspace_id, [{"external_id": "ann"}, {"external_id": "bob"}])
    wait = {"id": "w", "type": "wait", "duration": {"hours": 1}, "next": "hello"}
    journey = ok(client.post("/v1/journeys", json=api_journey([wait, SEND, BYE]), headers=h), 201)
    draft_edit = api_journey([{**wait, "duration": {"hours": 2}}, SEND, BYE])
    edited = ok(client.patch(f"/v1/journeys/{journey['id']}", json=draft_edit, headers=h))
    assert edited["version"] == 1 and edited["definition"]["steps"][0]["duration"]["hours"] == 2
    assert len(stored(database, tenant, Campaign)) == 1  # the draft's step campaign was replaced
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    assert ok(client.post(f"/v1/journeys/{journey['id']}/entries", json={"user_id": "ann"}, headers=h)) == {
        "entered": True
    }
    changed = copy.deepcopy(draft_edit)
    changed["definition"]["steps"][1]["variants"][0]["content"]["body"] = "Hello v2"
    v2 = ok(client.patch(f"/v1/journeys/{journey['id']}", json=changed, headers=h))
    assert v2["version"] == 2 and v2["status"] == "live"
    ok(client.post(f"/v1/journeys/{journey['id']}/entries", json={"user_id": "bob"}, headers=h))
    versions = {s.user_id: s.version for s in stored(database, tenant, JourneyState)}
    assert sorted(versions.values()) == [1, 2]
    assert len(stored(database, tenant, Campaign)) == 2  # one step campaign per version
    assert (
        ok(client.get(f"/v1/journeys/{journey['id']}/stats", params={"version": 1}, headers=h))["entered"]
        == 1
    )
    assert error_of(client.get(f"/v1/journeys/{journey['id']}/stats", params={"version": 9}, headers=h), 404)


def test_entering_through_the_api_follows_the_reentry_rule(client, database, tenant):
    h = tenant.secret_headers
    add_users(database, tenant.workspace_id, [{"external_id": "ann"}])
    journey = ok(client.post("/v1/journeys", json=api_journey([SEND, BYE]), headers=h), 201)
    path = f"/v1/journeys/{journey['id']}/entries"
    assert error_of(client.post(path, json={"user_id": "ann"}, headers=h), 409)["field"] == "journey_id"
    ok(client.post(f"/v1/journeys/{journey['id']}/launch", headers=h))
    assert error_of(client.post(path, json={"user_id": "nobody"}, headers=h), 422)["field"] == "user_id"
    assert ok(client.post(path, json={"user_id": "ann", "properties": {"x": 1}}, headers=h))["entered"]
    assert not ok(client.post(path, json={"user_id": "ann"}, headers=h))["entered"]  # once, by default


def test_unknown_journeys_are_404(client, tenant):
    missing = "/v1/journeys/0190b7a4-0000-7000-8000-000000000000"
    assert error_of(client.get(missing, headers=tenant.secret_headers), 404)["field"] == "journey_id"
    assert error_of(client.post(f"{missing}/pause", headers=tenant.secret_headers), 404)


def test_journey_posts_replay_by_idempotency_key(client, database, tenant):
    add_users(database, tenant.workspace_id, [{"external_id": "ann"}])
    h = {**tenant.secret_headers, "Idempotency-Key": "j-1"}
    first = client.post("/v1/journeys", json=api_journey([SEND, BYE]), headers=h)
    replay = client.post("/v1/journeys", json=api_journey([SEND, BYE]), headers=h)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    assert len(ok(client.get("/v1/journeys", headers=tenant.secret_headers))["data"]) == 1
    journey_id = first.json()["id"]
    ok(client.post(f"/v1/journeys/{journey_id}/launch", headers=tenant.secret_headers))
    entry = {**tenant.secret_headers, "Idempotency-Key": "enter-1"}
    path = f"/v1/journeys/{journey_id}/entries"
    assert ok(client.post(path, json={"user_id": "ann"}, headers=entry)) == {"entered": True}
    assert ok(client.post(path, json={"user_id": "ann"}, headers=entry)) == {"entered": True}  # the replay
    assert len(stored(database, tenant, JourneyState)) == 1
