from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.idempotency import service as idempotency
from app.idempotency.tasks import purge_expired
from app.models.base import utcnow
from app.users import service as users_service
from app.worker.registry import TaskContext
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows
from tests.journeys.helpers import api_journey


def post_user(client, tenant, body, key, tenant_headers=None):
    headers = {**(tenant_headers or tenant.secret_headers), "Idempotency-Key": key}
    return client.post("/v1/users", json=body, headers=headers)


def attribute(client, tenant, external_id, name):
    return ok(client.get(f"/v1/users/{external_id}", headers=tenant.secret_headers))["attributes"].get(name)


@pytest.mark.smoke
def test_same_key_and_body_replays_the_answer_without_redoing_the_work(client, tenant):
    body = {"external_id": "u1", "increment": {"logins": 1}}
    first = post_user(client, tenant, body, "k-1")
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    replay = post_user(client, tenant, body, "k-1")
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert attribute(client, tenant, "u1", "logins") == 1
    update = post_user(client, tenant, body, "k-2")
    assert update.status_code == 200
    assert post_user(client, tenant, body, "k-2").status_code == 200
    assert attribute(client, tenant, "u1", "logins") == 2


@pytest.mark.smoke
def test_an_event_replayed_by_key_is_stored_once(client, tenant, owner_engine):
    headers = {**tenant.secret_headers, "Idempotency-Key": "evt-1"}
    first = ok(client.post("/v1/events", json={"user_id": "u1", "name": "buy"}, headers=headers))
    again = client.post("/v1/events", json={"user_id": "u1", "name": "buy"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first
    batch = {"events": [{"user_id": "u1", "name": "open"}]}
    ok(client.post("/v1/events/batch", json=batch, headers={**headers, "Idempotency-Key": "evt-2"}))
    ok(client.post("/v1/events/batch", json=batch, headers={**headers, "Idempotency-Key": "evt-2"}))
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 2


@pytest.mark.smoke
def test_same_key_with_another_body_or_route_is_422(client, tenant):
    post_user(client, tenant, {"external_id": "u1"}, "k-1")
    error = error_of(post_user(client, tenant, {"external_id": "u2"}, "k-1"), 422)
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    headers = {**tenant.secret_headers, "Idempotency-Key": "k-1"}
    error = error_of(client.post("/v1/events", json={"external_id": "u1"}, headers=headers), 422)
    assert error["code"] == "idempotency_key_reused"
    assert client.get("/v1/users/u2", headers=tenant.secret_headers).status_code == 404


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_keys_must_be_1_to_255_characters(client, tenant, key):
    error = error_of(post_user(client, tenant, {"external_id": "u1"}, key), 422)
    assert error["field"] == "Idempotency-Key"
    assert client.get("/v1/users/u1", headers=tenant.secret_headers).status_code == 404


def test_a_failed_request_releases_its_key(client, tenant, owner_engine):
    ok(
        client.put("/v1/users/u1", json={"attributes": {"logins": "many"}}, headers=tenant.secret_headers),
        201,
    )
    body = {"external_id": "u1", "increment": {"logins": 1}}
    error_of(post_user(client, tenant, body, "k-1"), 422)
    assert count_rows(owner_engine, "idempotency_keys", tenant.workspace_id) == 0
    ok(client.put("/v1/users/u1", json={"attributes": {"logins": 0}}, headers=tenant.secret_headers))
    retried = post_user(client, tenant, body, "k-1")
    assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
    assert attribute(client, tenant, "u1", "logins") == 1


def test_a_request_refused_by_validation_releases_its_key(client, tenant):
    error_of(post_user(client, tenant, {"external_id": "u1", "email": "nope"}, "k-1"), 422)
    assert (
        post_user(client, tenant, {"external_id": "u1", "email": "yes@example.com"}, "k-1").status_code == 201
    )


def test_a_failed_commit_releases_its_key(client, tenant, monkeypatch):
    real_commit = Session.commit
    failures = []

    def failing_commit(session):
        if not failures:
            failures.append(True)
            raise OperationalError("COMMIT", {}, Exception("the connection dropped"))
        return real_commit(session)

    monkeypatch.setattr(Session, "commit", failing_commit)
    body = {"external_id": "u1", "increment": {"logins": 1}}
    # The commit fails inside the route, so the answer is the database's own: retry.
    assert post_user(client, tenant, body, "k-1").status_code == 503
    retried = post_user(client, tenant, body, "k-1")
    assert retried.status_code == 201, retried.text
    assert attribute(client, tenant, "u1", "logins") == 1


def test_a_concurrent_duplicate_is_409(live_url, tenant, monkeypatch):
    inside, go_on = threading.Event(), threading.Event()
    real_upsert = users_service.upsert

    def held_upsert(*args, **kwargs):
        inside.set()
        go_on.wait(10)
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(users_service, "upsert", held_upsert)
    headers = {**tenant.secret_headers, "Idempotency-Key": "k-1"}
    body = {"external_id": "u1", "increment": {"logins": 1}}

    def post() -> httpx.Response:
        with httpx.Client(base_url=live_url, timeout=20) as http:
            return http.post("/v1/users", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(post)
        try:
            assert inside.wait(10), "the first request never reached the service"
            duplicate = post()
        finally:
            go_on.set()
        first_response = first.result(timeout=20)
    error = error_of(duplicate, 409)
    assert (error["code"], error["field"]) == ("idempotency_in_progress", "Idempotency-Key")
    assert first_response.status_code == 201, first_response.text
    monkeypatch.setattr(users_service, "upsert", real_upsert)
    replay = post()
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["attributes"] == {"logins": 1}


def _age_keys(owner_engine, by: timedelta, *, completed: bool) -> None:
    with owner_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = :at"
                + ("" if completed else ", completed_at = NULL, status_code = NULL, response_body = NULL")
            ),
            {"at": utcnow() - by},
        )


def test_a_key_older_than_24_hours_may_be_used_again(client, tenant, owner_engine):
    post_user(client, tenant, {"external_id": "u1"}, "k-1")
    _age_keys(owner_engine, timedelta(hours=25), completed=True)
    fresh = post_user(client, tenant, {"external_id": "u2"}, "k-1")
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert count_rows(owner_engine, "idempotency_keys", tenant.workspace_id) == 1


def test_an_abandoned_claim_is_taken_over(client, tenant, owner_engine):
    post_user(client, tenant, {"external_id": "u1"}, "k-1")
    _age_keys(owner_engine, idempotency.ABANDONED_AFTER + timedelta(seconds=5), completed=False)
    retaken = post_user(client, tenant, {"external_id": "u1"}, "k-1")
    assert retaken.status_code == 200 and "idempotent-replayed" not in retaken.headers
    assert post_user(client, tenant, {"external_id": "u1"}, "k-1").headers["idempotent-replayed"] == "true"


def test_purge_forgets_keys_past_24_hours_in_every_workspace(
    client, database, sink, owner_engine, tenant, other_tenant
):
    post_user(client, tenant, {"external_id": "u1"}, "old-a")
    post_user(client, other_tenant, {"external_id": "u1"}, "old-b", other_tenant.secret_headers)
    _age_keys(owner_engine, timedelta(hours=25), completed=True)
    post_user(client, tenant, {"external_id": "u1"}, "fresh")
    assert purge_expired(TaskContext(database=database, sink=sink)) == 2
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT key FROM idempotency_keys")).scalars().all() == ["fresh"]


@pytest.mark.smoke
def test_erasing_a_user_forgets_the_answers_holding_their_profile(client, tenant, other_tenant, owner_engine):
    for t in (tenant, other_tenant):
        post_user(client, t, {"external_id": "ann", "email": "ann@example.com"}, "k-ann", t.secret_headers)
        post_user(client, t, {"external_id": "anna", "email": "anna@example.com"}, "k-anna", t.secret_headers)
    journey = api_journey([{"id": "bye", "type": "exit"}])  # an answer that names no user first
    headers = {**tenant.secret_headers, "Idempotency-Key": "k-j"}
    ok(client.post("/v1/journeys", json=journey, headers=headers), 201)
    ok(client.delete("/v1/users/ann", headers=tenant.secret_headers))
    with owner_engine.connect() as conn:
        rows = conn.execute(text("SELECT workspace_id, key FROM idempotency_keys")).all()
    assert sorted((uuid.UUID(str(ws)) == tenant.workspace_id, key) for ws, key in rows) == [
        (False, "k-ann"),
        (False, "k-anna"),
        (True, "k-anna"),
        (True, "k-j"),
    ]
    again = post_user(client, tenant, {"external_id": "ann", "email": "ann@example.com"}, "k-ann")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers


def test_a_claim_released_while_we_look_at_it_is_claimed_afresh(database, tenant, owner_engine):
    first = idempotency.claim(database, tenant.workspace_id, "k-1", "hash")

    def release_before_the_read(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FOR UPDATE" in statement.upper():
            with owner_engine.begin() as conn:
                conn.execute(text("DELETE FROM idempotency_keys"))

    event.listen(database.engine, "before_cursor_execute", release_before_the_read)
    try:
        second = idempotency.claim(database, tenant.workspace_id, "k-1", "hash")
    finally:
        event.remove(database.engine, "before_cursor_execute", release_before_the_read)
    assert isinstance(second, uuid.UUID) and second != first
    assert count_rows(owner_engine, "idempotency_keys", tenant.workspace_id) == 1


# POST routes that do not take part, and why.
NOT_IDEMPOTENT = {
    "/v1/keys",  # a replay would need the new key stored in plaintext
    "/v1/devices/unregister",  # removes a device: repeating it changes nothing
    "/v1/inbox/{item_id}/read",  # marks a state: repeating it changes nothing
    "/v1/inbox/{item_id}/dismiss",
    "/v1/content/preview",  # renders, stores nothing
    "/v1/content/validate",  # checks, stores nothing
    "/v1/segments/preview",  # counts, stores nothing
    "/v1/email/events",  # provider callbacks: a bounce applied twice changes nothing
}


def test_every_post_that_creates_honours_idempotency_keys(api):
    posts = {
        path: operations["post"]
        for path, operations in api.openapi()["paths"].items()
        if "post" in operations
    }
    assert len(posts) >= 10
    for path, operation in posts.items():
        headers = {p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("idempotency-key" in headers) == (path not in NOT_IDEMPOTENT), path


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/identify", {"userId": "u1", "traits": {"logins": 1}}),
        ("/v1/track", {"userId": "u1", "event": "e"}),
        ("/v1/batch", {"batch": [{"type": "page", "userId": "u1"}]}),
    ],
)
def test_segment_calls_replay_by_key(client, tenant, owner_engine, path, body):
    headers = {**tenant.secret_headers, "Idempotency-Key": "seg-1"}
    first = ok(client.post(path, json=body, headers=headers))
    replay = client.post(path, json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first
    assert count_rows(owner_engine, "events", tenant.workspace_id) == (0 if path == "/v1/identify" else 1)
