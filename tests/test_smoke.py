import pytest


@pytest.mark.smoke
def test_user_round_trip(client, tenant):
    r = client.put(
        "/v1/users/u1",
        json={"email": "a@example.com", "timezone": "Asia/Kathmandu", "attributes": {"plan": "pro"}},
        headers=tenant.secret_headers,
    )
    assert r.status_code == 201, r.text
    r = client.get("/v1/users/u1", headers=tenant.secret_headers)
    assert r.status_code == 200, r.text
    assert r.json()["attributes"] == {"plan": "pro"}
