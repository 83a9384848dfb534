"""The per-process cache of compiled variable sets: compiled again only when the workspace's
variables or segments changed, and relative dates kept current meanwhile."""

from __future__ import annotations

import time

import pytest

from app.content.cache import ContentCache
from tests.content.helpers import PRO, content, create, put_user, variable
from tests.fixtures.assertions import ok

DID_BUY = {"version": 1, "match": {"type": "event", "name": "buy", "did": True, "window": {"last_days": 30}}}


@pytest.mark.smoke
def test_a_set_is_compiled_again_only_when_a_variable_or_segment_changed(client, database, tenant):
    h = tenant.secret_headers
    saved = ok(client.post("/v1/segments", json={"name": "Pro", "definition": PRO}, headers=h), 201)
    create(client, tenant, variable(rules=[{"segment_id": saved["id"], "value": "Pro"}]))
    create(client, tenant, variable("label"))
    # Another process's cache: nothing this test's API does invalidates it.
    cache = ContentCache(check_s=0.0)

    def compiled():  # type: ignore[no-untyped-def]
        with database.session(tenant.workspace_id) as session, session.begin():
            return cache.get(session)

    first = compiled()
    assert compiled() is first  # checked, unchanged: not compiled again
    ok(client.patch("/v1/variables/banner", json={"default": "Hi"}, headers=h))
    changed = compiled()
    assert changed is not first and changed.variables["banner"].default == "Hi"
    assert compiled() is changed
    assert client.delete("/v1/variables/label", headers=h).status_code == 204
    after_delete = compiled()
    assert set(after_delete.variables) == {"banner"}
    plus = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "plus"}}
    ok(client.patch(f"/v1/segments/{saved['id']}", json={"definition": plus}, headers=h))
    after_segment = compiled()
    assert after_segment is not after_delete
    assert after_segment.conditions[0].model_dump()["match"]["value"] == "plus"

    patient = ContentCache(check_s=3600.0)
    with database.session(tenant.workspace_id) as session, session.begin():
        held = patient.get(session)
    ok(client.patch("/v1/variables/banner", json={"default": "Later"}, headers=h))
    with database.session(tenant.workspace_id) as session, session.begin():
        assert patient.get(session) is held  # not checked before its interval


def test_what_a_user_just_did_counts_within_seconds(client, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable(rules=[{"definition": DID_BUY, "value": "Thanks"}]))
    put_user(client, tenant, "alice")
    assert content(client, h, user="alice")["values"]["banner"] == "Hello"
    ok(client.post("/v1/events", json={"user_id": "alice", "name": "buy"}, headers=h))
    deadline = time.monotonic() + 3.0
    while content(client, h, user="alice")["values"]["banner"] != "Thanks":
        assert time.monotonic() < deadline, "a fresh purchase did not count within 3 s"
        time.sleep(0.05)
