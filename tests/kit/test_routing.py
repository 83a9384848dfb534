"""Routers behind a path-prefix check answer exactly as FastAPI's own matching does."""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from app.kit.routing import include_indexed, literal_prefixes


def _toy_routers() -> tuple[APIRouter, APIRouter]:
    things = APIRouter(prefix="/v1/things")

    @things.get("/{thing_id}")
    def get_thing(thing_id: str) -> dict[str, str]:
        return {"thing": thing_id}

    @things.post("")
    def add_thing() -> dict[str, str]:
        return {"added": "yes"}

    other = APIRouter()

    @other.get("/v1/other")
    def get_other() -> dict[str, str]:
        return {"other": "yes"}

    return things, other


def _toy_app() -> FastAPI:
    app = FastAPI()
    for router in _toy_routers():
        include_indexed(app, router)
    return app


def test_literal_prefixes_stop_at_the_first_parameter():
    things, other = _toy_routers()
    assert literal_prefixes(things) == ("/v1/things", "/v1/things/")
    assert literal_prefixes(other) == ("/v1/other",)
    nesting = APIRouter()
    nesting.include_router(other)
    assert literal_prefixes(nesting) is None  # a nested router: left unguarded


def test_guarded_routers_answer_as_before():
    with TestClient(_toy_app()) as client:
        assert client.get("/v1/things/a").json() == {"thing": "a"}
        assert client.post("/v1/things").json() == {"added": "yes"}
        assert client.get("/v1/other").json() == {"other": "yes"}
        assert client.delete("/v1/things/a").status_code == 405  # the path matched, not the method
        assert client.get("/v1/nowhere").status_code == 404
        redirected = client.get("/v1/other/", follow_redirects=False)
        assert redirected.status_code == 307 and redirected.headers["location"].endswith("/v1/other")


def test_every_documented_route_of_the_app_is_found(api):
    """Each path of the OpenAPI document, with its parameters filled in, is matched by the route
    that documents it: no prefix check hides a route."""
    for path, operations in api.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method in operations:
            scope = {"type": "http", "method": method.upper(), "path": concrete, "root_path": ""}
            found = next(
                (route for route in api.router.routes if route.matches(scope)[0] is Match.FULL), None
            )
            assert found is not None, (method, path)
