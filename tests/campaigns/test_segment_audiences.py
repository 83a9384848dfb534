"""Campaign audiences drawn from segments: saved, inline, and inline referring to saved ones."""

import pytest

from tests.campaigns.helpers import campaign_body
from tests.fixtures.assertions import error_of, ok

PRO = {"type": "attribute", "attribute": "plan", "op": "eq", "value": "pro"}
BERLIN = {"type": "field", "field": "timezone", "op": "eq", "value": "Europe/Berlin"}


@pytest.fixture
def people(client, tenant):
    for name, plan, zone in [
        ("a", "pro", "Europe/Berlin"),
        ("b", "pro", "Asia/Tokyo"),
        ("c", "free", "Europe/Berlin"),
        ("d", "pro", None),
    ]:
        body = {"attributes": {"plan": plan}, **({"timezone": zone} if zone else {})}
        ok(client.put(f"/v1/users/{name}", json=body, headers=tenant.secret_headers), 201)


def _audience_size(client, tenant, audience):
    body = campaign_body(audience=audience, schedule={"type": "local", "date": "2030-01-07", "time": "09:00"})
    campaign = ok(client.post("/v1/campaigns", json=body, headers=tenant.secret_headers), 201)
    return ok(client.get(f"/v1/campaigns/{campaign['id']}/schedule-preview", headers=tenant.secret_headers))[
        "total"
    ]


@pytest.mark.smoke
def test_saved_inline_and_referring_definitions(client, tenant, people):
    h = tenant.secret_headers
    saved = ok(
        client.post(
            "/v1/segments", json={"name": "Pro", "definition": {"version": 1, "match": PRO}}, headers=h
        ),
        201,
    )
    assert _audience_size(client, tenant, {"type": "segment", "segment_id": saved["id"]}) == 3
    inline = {"version": 1, "match": {"all": [PRO, BERLIN]}}
    assert _audience_size(client, tenant, {"type": "definition", "definition": inline}) == 1
    referring = {
        "version": 1,
        "match": {"all": [{"type": "segment", "segment_id": saved["id"]}, {"not": BERLIN}]},
    }
    assert _audience_size(client, tenant, {"type": "definition", "definition": referring}) == 2


def test_a_bad_inline_definition_names_its_node(client, tenant):
    bad = {
        "version": 1,
        "match": {"all": [{"type": "attribute", "attribute": "plan", "op": "bogus", "value": 1}]},
    }
    body = campaign_body(audience={"type": "definition", "definition": bad})
    error = error_of(client.post("/v1/campaigns", json=body, headers=tenant.secret_headers), 422)
    assert error["field"].startswith("audience.definition.match")
