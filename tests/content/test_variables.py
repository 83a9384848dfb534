"""The variables API: typed values checked everywhere, versions, archive and delete."""

from __future__ import annotations

import pytest

from tests.content.helpers import PRO, create, variable
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows

GOOD = {"string": "Hi", "number": 2.5, "boolean": False, "json": {"items": [1, "a", None]}}
BAD = {"string": 3, "number": True, "boolean": "true", "json": None}


@pytest.mark.smoke
@pytest.mark.parametrize("type_", sorted(GOOD))
def test_each_type_takes_its_own_default(client, tenant, type_):
    created = create(client, tenant, variable("v", type_, GOOD[type_]))
    assert (created["type"], created["default"], created["version"]) == (type_, GOOD[type_], 1)
    assert ok(client.get("/v1/variables/v", headers=tenant.secret_headers)) == created


@pytest.mark.smoke
@pytest.mark.parametrize("type_", ["string", "number", "boolean"])
def test_a_default_of_another_type_is_refused_naming_the_field(client, tenant, owner_engine, type_):
    response = client.post(
        "/v1/variables", json=variable("v", type_, BAD[type_]), headers=tenant.secret_headers
    )
    error = error_of(response, 422)
    assert error["field"] == "default" and type_ in error["message"]
    assert count_rows(owner_engine, "variables") == 0


def test_a_json_variable_may_default_to_null(client, tenant):
    assert create(client, tenant, variable("v", "json", None))["default"] is None


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"rules": [{"definition": PRO, "value": "ok"}, {"definition": PRO, "value": 1}]}, "rules[1].value"),
        ({"variants": [{"key": "a", "value": "x"}, {"key": "b", "value": False}]}, "variants[1].value"),
    ],
)
def test_rule_and_variant_values_are_type_checked(client, tenant, extra, field):
    response = client.post("/v1/variables", json=variable(**extra), headers=tenant.secret_headers)
    assert error_of(response, 422)["field"] == field


def test_bad_segments_in_rules_are_named(client, tenant):
    h = tenant.secret_headers
    unknown = {"rules": [{"segment_id": "0193a1f2-0000-7000-8000-000000000000", "value": "x"}]}
    assert error_of(client.post("/v1/variables", json=variable(**unknown), headers=h), 422)["field"] == (
        "rules[0].segment_id"
    )
    broken = {"version": 1, "match": {"type": "attribute", "attribute": "plan", "op": "nope", "value": 1}}
    error = error_of(
        client.post("/v1/variables", json=variable(rules=[{"definition": broken, "value": "x"}]), headers=h),
        422,
    )
    assert error["field"].startswith("rules[0].definition")
    both = {
        "rules": [{"definition": PRO, "segment_id": "0193a1f2-0000-7000-8000-000000000000", "value": "x"}]
    }
    assert error_of(client.post("/v1/variables", json=variable(**both), headers=h), 422)


def test_keys_are_unique_and_variant_keys_too(client, tenant):
    create(client, tenant, variable())
    assert (
        error_of(client.post("/v1/variables", json=variable(), headers=tenant.secret_headers), 409)["field"]
        == "key"
    )
    twins = variable("other", variants=[{"key": "a", "value": "x"}, {"key": "a", "value": "y"}])
    assert (
        error_of(client.post("/v1/variables", json=twins, headers=tenant.secret_headers), 422)["field"]
        == "variants"
    )


@pytest.mark.smoke
def test_each_change_is_a_new_version_and_stale_versions_are_refused(client, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable())
    changed = ok(client.patch("/v1/variables/banner", json={"default": "Hey", "version": 1}, headers=h))
    assert (changed["default"], changed["version"]) == ("Hey", 2)
    stale = client.patch("/v1/variables/banner", json={"default": "Lost", "version": 1}, headers=h)
    assert error_of(stale, 409)["field"] == "version"
    assert ok(client.get("/v1/variables/banner", headers=h))["default"] == "Hey"


def test_changing_the_type_rechecks_every_value(client, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable(rules=[{"definition": PRO, "value": "Pro"}]))
    assert error_of(client.patch("/v1/variables/banner", json={"type": "number"}, headers=h), 422)[
        "field"
    ] == ("default")
    assert (
        error_of(client.patch("/v1/variables/banner", json={"type": "number", "default": 1}, headers=h), 422)[
            "field"
        ]
        == "rules[0].value"
    )
    both = {"type": "number", "default": 1, "rules": [{"definition": PRO, "value": 2}]}
    assert ok(client.patch("/v1/variables/banner", json=both, headers=h))["version"] == 2


def test_archived_variables_leave_the_list_and_can_return(client, tenant):
    h = tenant.secret_headers
    create(client, tenant, variable("a"))
    create(client, tenant, variable("b"))
    assert ok(client.patch("/v1/variables/a", json={"archived": True}, headers=h))["archived"] is True
    assert [v["key"] for v in ok(client.get("/v1/variables", headers=h))["data"]] == ["b"]
    listed = ok(client.get("/v1/variables", params={"archived": "true", "limit": 1}, headers=h))
    assert [v["key"] for v in listed["data"]] == ["a"] and listed["next_cursor"] == "a"
    page = ok(client.get("/v1/variables", params={"archived": "true", "cursor": "a"}, headers=h))
    assert [v["key"] for v in page["data"]] == ["b"] and page["next_cursor"] is None
    assert ok(client.patch("/v1/variables/a", json={"archived": False}, headers=h))["archived"] is False


def test_delete(client, tenant, owner_engine):
    h = tenant.secret_headers
    create(client, tenant, variable())
    assert client.delete("/v1/variables/banner", headers=h).status_code == 204
    error_of(client.get("/v1/variables/banner", headers=h), 404)
    error_of(client.delete("/v1/variables/banner", headers=h), 404)
    assert count_rows(owner_engine, "variables") == 0


def test_a_repeated_create_with_the_same_idempotency_key_is_replayed(client, tenant, owner_engine):
    h = {**tenant.secret_headers, "Idempotency-Key": "var-1"}
    first = ok(client.post("/v1/variables", json=variable(), headers=h), 201)
    replay = client.post("/v1/variables", json=variable(), headers=h)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first
    assert count_rows(owner_engine, "variables") == 1


def test_publishable_keys_cannot_manage_variables(client, tenant):
    error_of(client.post("/v1/variables", json=variable(), headers=tenant.publishable_headers), 403)
    error_of(client.get("/v1/variables", headers=tenant.publishable_headers), 403)
