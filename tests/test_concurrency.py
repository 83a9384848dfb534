"""Parallel requests over a real socket: upserts of one user serialise, batches that create the
same users neither deadlock nor fail, a token registered twice at once is one device."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.fixtures.factories import count_rows

PARALLEL = 8


def in_parallel(live_url, requests):
    def send(request):
        method, path, body, headers = request
        with httpx.Client(base_url=live_url, timeout=30) as http:
            return http.request(method, path, json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        return list(pool.map(send, requests))


def test_parallel_upserts_of_one_new_user_lose_no_update(live_url, tenant, owner_engine):
    body = {"increment": {"logins": 1}, "add": {"seen_by": ["x"]}}
    responses = in_parallel(live_url, [("PUT", "/v1/users/u1", body, tenant.secret_headers)] * PARALLEL * 2)
    assert sorted(r.status_code for r in responses) == [200] * (PARALLEL * 2 - 1) + [201]
    with httpx.Client(base_url=live_url) as http:
        user = http.get("/v1/users/u1", headers=tenant.secret_headers).json()
    assert user["attributes"] == {"logins": PARALLEL * 2, "seen_by": ["x"]}
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 1


def test_parallel_batches_creating_the_same_users_all_succeed(live_url, tenant, owner_engine):
    def batch(offset):
        events = [{"user_id": f"u{(n + offset) % 30}", "name": "e"} for n in range(60)]
        return ("POST", "/v1/events/batch", {"events": events}, tenant.secret_headers)

    responses = in_parallel(live_url, [batch(offset) for offset in range(PARALLEL)])
    assert all(r.status_code == 200 and r.json()["accepted"] == 60 for r in responses), [
        r.text for r in responses
    ]
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 30
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 60 * PARALLEL


def test_one_token_registered_in_parallel_is_one_device(live_url, tenant, owner_engine):
    requests = [
        (
            "POST",
            f"/v1/users/u{n % 3}/devices",
            {"platform": "fcm", "token": "shared-token"},
            tenant.secret_headers,
        )
        for n in range(PARALLEL)
    ]
    responses = in_parallel(live_url, requests)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert count_rows(owner_engine, "devices", tenant.workspace_id) == 1


def test_parallel_events_with_one_message_id_are_stored_once(live_url, tenant, owner_engine):
    body = {"user_id": "u1", "name": "buy", "message_id": "m-1"}
    responses = in_parallel(live_url, [("POST", "/v1/events", body, tenant.secret_headers)] * PARALLEL)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert sorted(r.json()["status"] for r in responses) == ["accepted"] + ["duplicate"] * (PARALLEL - 1)
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 1
