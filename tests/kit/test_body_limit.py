"""Oversized bodies are refused with 413 whether or not they announce their length."""

from __future__ import annotations

import gzip

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


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)


def gzip_headers(tenant) -> dict[str, str]:
    return {**raw_headers(tenant.secret_headers), "Content-Encoding": "gzip"}


@pytest.mark.smoke
def test_gzip_bodies_are_inflated(client, tenant, owner_engine):
    user = b'{"email": "ada@example.com", "attributes": {"plan": "pro"}}'
    response = client.put("/v1/users/u1", content=gzipped(user), headers=gzip_headers(tenant))
    assert ok(response, 201)["email"] == "ada@example.com"
    batch = b'{"events": [{"user_id": "u1", "name": "open"}, {"user_id": "u2", "name": "open"}]}'
    response = client.post(
        "/v1/events/batch", content=chunks(gzipped(batch), 7), headers=gzip_headers(tenant)
    )
    assert ok(response)["accepted"] == 2
    assert count_rows(owner_engine, "events", tenant.workspace_id) == 2


def test_the_limit_counts_inflated_bytes_so_a_zip_bomb_is_413(small_client, tenant, owner_engine):
    bomb = gzipped(padded_user(50 * 1024 * 1024))
    assert len(bomb) < 100 * 1024
    for content in (bomb, chunks(bomb, 8192)):
        response = small_client.put("/v1/users/u1", content=content, headers=gzip_headers(tenant))
        assert error_of(response, 413)["code"] == "payload_too_large"
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


@pytest.mark.parametrize("content", [b"not gzip at all", gzip.compress(b'{"email": "a@example.com"}')[:-6]])
def test_a_broken_gzip_body_is_400(client, tenant, owner_engine, content):
    for method, path in ROUTES:
        error = error_of(client.request(method, path, content=content, headers=gzip_headers(tenant)), 400)
        assert (error["code"], error["field"]) == ("invalid_json", "body")
        assert "gzip" in error["message"]
    assert count_rows(owner_engine, "users", tenant.workspace_id) == 0


def test_other_encodings_are_415(client, tenant):
    headers = {**raw_headers(tenant.secret_headers), "Content-Encoding": "br"}
    error = error_of(client.put("/v1/users/u1", content=b"{}", headers=headers), 415)
    assert (error["code"], error["field"]) == ("unsupported_media_type", "Content-Encoding")
