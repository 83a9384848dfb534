"""``GET /v1/content``: one user's values by rule, segment and variant, signed by the app."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from app.content.compiled import compile_set
from app.main import create_app
from tests.content.helpers import PRO, as_user, content, create, put_user, variable
from tests.fixtures.assertions import error_of, ok

DID_BUY = {"version": 1, "match": {"type": "event", "name": "buy", "did": True}}
EU = {"version": 1, "match": {"type": "field", "field": "country", "op": "in", "value": ["FR", "DE"]}}


@pytest.mark.smoke
def test_a_signed_user_gets_values_and_an_unsigned_one_is_refused(client, settings, tenant):
    create(client, tenant, variable(rules=[{"definition": PRO, "value": "Welcome back, pro"}]))
    put_user(client, tenant, "alice", plan="pro")
    assert content(client, as_user(settings, tenant, "alice")) == {
        "values": {"banner": "Welcome back, pro"},
        "variants": {},
    }
    unsigned = {**tenant.publishable_headers, "X-Nudge-User": "alice"}
    assert error_of(client.get("/v1/content", headers=unsigned), 403)["field"] == "signature"
    forged = {**as_user(settings, tenant, "bob"), "X-Nudge-User": "alice"}
    error_of(client.get("/v1/content", headers=forged), 403)
    error_of(client.get("/v1/content", headers=tenant.publishable_headers), 401)
    error_of(client.get("/v1/content"), 401)


@pytest.mark.smoke
def test_a_secret_key_may_ask_for_any_user(client, tenant):
    create(client, tenant, variable(rules=[{"definition": PRO, "value": "Pro"}]))
    put_user(client, tenant, "alice", plan="pro")
    put_user(client, tenant, "bob", plan="free")
    assert content(client, tenant.secret_headers, user="alice")["values"] == {"banner": "Pro"}
    assert content(client, tenant.secret_headers, user="bob")["values"] == {"banner": "Hello"}


@pytest.mark.smoke
def test_an_unknown_user_gets_every_default_and_no_variant(client, settings, tenant):
    create(
        client,
        tenant,
        variable(rules=[{"definition": {"version": 1, "match": {"not": PRO["match"]}}, "value": "Not pro"}]),
    )
    create(
        client,
        tenant,
        variable("color", variants=[{"key": "a", "value": "red"}, {"key": "b", "value": "blue"}]),
    )
    got = content(client, as_user(settings, tenant, "stranger"))
    assert got == {"values": {"banner": "Hello", "color": "Hello"}, "variants": {}}


def test_rules_are_tried_in_order_and_the_first_match_wins(client, tenant):
    h = tenant.secret_headers
    saved = ok(client.post("/v1/segments", json={"name": "Buyers", "definition": DID_BUY}, headers=h), 201)
    rules = [{"segment_id": saved["id"], "value": "Buyer"}, {"definition": PRO, "value": "Pro"}]
    create(client, tenant, variable(rules=rules))
    put_user(client, tenant, "both", plan="pro")
    put_user(client, tenant, "pro", plan="pro")
    put_user(client, tenant, "neither", plan="free")
    ok(client.post("/v1/events", json={"user_id": "both", "name": "buy"}, headers=h))
    seen = {u: content(client, h, user=u)["values"]["banner"] for u in ("both", "pro", "neither")}
    assert seen == {"both": "Buyer", "pro": "Pro", "neither": "Hello"}
    ok(client.patch("/v1/variables/banner", json={"rules": rules[::-1]}, headers=h))
    assert content(client, h, user="both")["values"]["banner"] == "Pro"


def test_inline_rules_follow_the_saved_segments_they_name(client, tenant):
    h = tenant.secret_headers
    saved = ok(client.post("/v1/segments", json={"name": "Pro", "definition": PRO}, headers=h), 201)
    inline = {"version": 1, "match": {"all": [{"type": "segment", "segment_id": saved["id"]}, EU["match"]]}}
    create(client, tenant, variable(rules=[{"definition": inline, "value": "Pro in Europe"}]))
    put_user(client, tenant, "alice", plan="pro")
    ok(client.put("/v1/users/alice", json={"country": "FR"}, headers=h))
    assert content(client, h, user="alice")["values"]["banner"] == "Pro in Europe"
    plus = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "eq", "value": "plus"}}
    ok(client.patch(f"/v1/segments/{saved['id']}", json={"definition": plus}, headers=h))
    assert _eventually(lambda: content(client, h, user="alice")["values"]["banner"] == "Hello")


def test_a_segment_a_rule_names_cannot_be_deleted_until_the_rule_is_gone(client, tenant):
    h = tenant.secret_headers
    saved = ok(client.post("/v1/segments", json={"name": "Pro", "definition": PRO}, headers=h), 201)
    create(client, tenant, variable(rules=[{"segment_id": saved["id"], "value": "Pro"}]))
    reference = {"type": "segment", "segment_id": saved["id"]}
    inline = {"definition": {"version": 1, "match": {"not": reference}}, "value": "Not pro"}
    create(client, tenant, variable("hidden", rules=[inline]))
    ok(client.patch("/v1/variables/hidden", json={"archived": True}, headers=h))

    r = client.delete(f"/v1/segments/{saved['id']}", headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "segment_id"
    assert "variable 'banner'" in r.json()["error"]["message"]
    assert "variable 'hidden'" in r.json()["error"]["message"]

    ok(client.patch("/v1/variables/banner", json={"rules": []}, headers=h))
    r = client.delete(f"/v1/segments/{saved['id']}", headers=h)
    assert r.status_code == 409
    assert "variable 'banner'" not in r.json()["error"]["message"]
    assert client.delete("/v1/variables/hidden", headers=h).status_code == 204
    assert client.delete(f"/v1/segments/{saved['id']}", headers=h).status_code == 204


def test_keys_limit_the_answer_and_archived_variables_are_not_served(client, tenant):
    h = tenant.secret_headers
    for key in ("a", "b", "c"):
        create(client, tenant, variable(key))
    put_user(client, tenant, "alice")
    assert content(client, h, user="alice", keys="a,c,missing")["values"] == {"a": "Hello", "c": "Hello"}
    ok(client.patch("/v1/variables/b", json={"archived": True}, headers=h))
    assert content(client, h, user="alice")["values"] == {"a": "Hello", "c": "Hello"}


def test_variants_are_stable_per_user_and_follow_the_weights(client, tenant, database):
    h = tenant.secret_headers
    variants = [{"key": "small", "weight": 1, "value": 10}, {"key": "large", "weight": 3, "value": 50}]
    create(client, tenant, variable("discount", "number", 0, variants=variants, experiment="spring"))
    labels = [{"key": "small", "weight": 1, "value": "10%"}, {"key": "large", "weight": 3, "value": "50%"}]
    create(client, tenant, variable("label", "string", "", variants=labels, experiment="spring"))
    create(client, tenant, variable("solo", "string", "", variants=labels))
    for start in (0, 1000):
        events = [{"user_id": f"u{n}", "name": "open"} for n in range(start, start + 1000)]
        ok(client.post("/v1/events/batch", json={"events": events}, headers=h))
    with database.session(tenant.workspace_id) as session:
        compiled = compile_set(session)
        resolved = [compiled.resolve(session, f"u{n}", None) for n in range(2000)]
    answers = [(r.values, r.variants) for r in resolved]
    shares = Counter(variants["discount"] for _, variants in answers)
    # 2000 draws at 1/4: mean 500, standard deviation about 19; a fair hash stays within 5 of them.
    assert 405 <= shares["small"] <= 595, shares
    for values, chosen in answers:
        assert chosen["label"] == chosen["discount"]  # one experiment splits users alike
        assert values["discount"] == (10 if chosen["discount"] == "small" else 50)
    solo_agrees = sum(chosen["solo"] == chosen["discount"] for _, chosen in answers)
    assert solo_agrees < 1900  # a variable of its own is split independently
    again = [content(client, h, user=f"u{n}")["variants"] for n in range(0, 2000, 100)]
    assert again == [answers[n][1] for n in range(0, 2000, 100)]


def test_a_rule_match_takes_precedence_over_variants(client, tenant):
    h = tenant.secret_headers
    variants = [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}]
    create(client, tenant, variable(rules=[{"definition": PRO, "value": "Pro"}], variants=variants))
    put_user(client, tenant, "alice", plan="pro")
    put_user(client, tenant, "bob", plan="free")
    assert content(client, h, user="alice") == {"values": {"banner": "Pro"}, "variants": {}}
    bob = content(client, h, user="bob")
    assert bob["values"]["banner"] == {"a": "A", "b": "B"}[bob["variants"]["banner"]]


def test_a_change_made_through_another_process_shows_within_seconds(
    client, api, settings, database, sink, tenant
):
    h = tenant.secret_headers
    create(client, tenant, variable())
    put_user(client, tenant, "alice")
    other_process = create_app(settings, database=database, sink=sink)
    with TestClient(other_process, raise_server_exceptions=False) as reader:
        assert content(reader, h, user="alice")["values"]["banner"] == "Hello"  # now cached there
        ok(client.patch("/v1/variables/banner", json={"default": "Fresh"}, headers=h))
        assert content(client, h, user="alice")["values"]["banner"] == "Fresh"  # the writer at once
        started = time.monotonic()
        assert _eventually(lambda: content(reader, h, user="alice")["values"]["banner"] == "Fresh")
        assert time.monotonic() - started < 3


def test_workspaces_see_only_their_own_variables(client, settings, tenant, other_tenant):
    create(client, tenant, variable(rules=[{"definition": PRO, "value": "A's pro"}]))
    put_user(client, tenant, "alice", plan="pro")
    put_user(client, other_tenant, "alice", plan="pro")
    assert content(client, as_user(settings, other_tenant, "alice")) == {"values": {}, "variants": {}}
    assert content(client, other_tenant.secret_headers, user="alice") == {"values": {}, "variants": {}}
    signed_by_a = {**as_user(settings, tenant, "alice"), **other_tenant.publishable_headers}
    error_of(client.get("/v1/content", headers=signed_by_a), 403)


def _eventually(check, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_revoked_publishable_key_stops_working_at_once(client, settings, tenant):
    create(client, tenant, variable())
    headers = as_user(settings, tenant, "alice")
    assert content(client, headers)["values"] == {"banner": "Hello"}  # the key is now remembered
    keys = ok(client.get("/v1/keys", headers=tenant.secret_headers))
    (publishable,) = [k for k in keys if k["kind"] == "publishable"]
    ok(client.delete(f"/v1/keys/{publishable['id']}", headers=tenant.secret_headers))
    assert error_of(client.get("/v1/content", headers=headers), 401)["field"] == "key"
