"""Oversized bodies are refused with 413 whether or not they announce their length."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.fixtures.assertions import error_of, ok
from tests.fixtures.factories import count_rows, raw_headers
from tests.fixtures.live_server import serve

LIMIT = 4096


@pytest.fixture
def small_api(settings, database, sink):
    return create_app(settings.model_copy(update={"max_body_bytes": LIMIT}), database=database, sink=sink)


@pytest.fixture
def small_client(small_api):
    with TestClient(small_api, raise_server_exceptions=False) as client:
        yield client


def padded_user(size: int) -> bytes:
    head, tail = b'{"attributes": {"pad": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def chunks(body: bytes, size: int = 1000):
    for start in range(0, len(body), size):
        yield body[start : start + size]


ROUTES = [("PUT", "/v1/users/u1"), ("POST", "/v1/events/batch"), ("POST", "/v1/identify")]


@pytest.mark.smoke
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_declared_length_over_the_limit_is_413(small_client, tenant, owner_engine, method, path):
    response = small_client.request(
        method, path, content=padded_user(LIMIT + 1), headers=raw_headers(tenant.secret_headers)
    )
    error = error_of(response, 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "body")
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


@pytest.mark.smoke
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_streamed_body_over_the_limit_is_413(small_client, tenant, owner_engine, method, path):
    response = small_client.request(
        method, path, content=chunks(padded_user(LIMIT * 3)), headers=raw_headers(tenant.secret_headers)
    )
    error = error_of(response, 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "body")
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


def test_a_body_at_the_limit_is_accepted(small_client, tenant):
    response = small_client.put(
        "/v1/users/u1", content=padded_user(LIMIT), headers=raw_headers(tenant.secret_headers)
    )
    ok(response, 201)
    response = small_client.put(
        "/v1/users/u2", content=chunks(padded_user(LIMIT)), headers=raw_headers(tenant.secret_headers)
    )
    ok(response, 201)


def test_a_chunked_upload_over_a_real_socket_is_413(small_api, tenant, owner_engine):
    with serve(small_api) as url, httpx.Client(base_url=url) as http:
        response = http.put(
            "/v1/users/u1",
            content=chunks(padded_user(LIMIT * 50)),
            headers=raw_headers(tenant.secret_headers),
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert error_of(response, 413)["code"] == "payload_too_large"
        response = http.put(
            "/v1/users/u1", content=padded_user(LIMIT * 50), headers=raw_headers(tenant.secret_headers)
        )
        assert error_of(response, 413)["code"] == "payload_too_large"
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


def test_an_oversized_idempotent_request_releases_its_key(small_client, tenant, owner_engine):
    headers = {**raw_headers(tenant.secret_headers), "Idempotency-Key": "big-1"}
    body = b'{"external_id": "u1", "attributes": {"pad": "' + b"x" * LIMIT + b'"}}'
    error_of(small_client.post("/v1/users", content=chunks(body), headers=headers), 413)
    assert count_rows(owner_engine, "idempotency_keys", tenant.workspace_id) == 0
