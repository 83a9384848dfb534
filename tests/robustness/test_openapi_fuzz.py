"""Schemathesis over the whole OpenAPI document: whatever the generated request, the answer is
never a server error and always matches the schema the API publishes for it."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from app.kit.settings import Settings
from app.main import create_app

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# The document only: calls go to the app built on the test database below.
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(database_url="sqlite://")))
FUZZ = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True}


@pytest.fixture
def app(settings, database, sink):
    return create_app(settings, database=database, sink=sink)


@schema.parametrize()
@hypothesis_settings(max_examples=25, **FUZZ)
def test_with_secret_key(case, app, tenant):
    case.call_and_validate(app=app, headers=tenant.secret_headers, checks=CHECKS)


@schema.parametrize()
@hypothesis_settings(max_examples=8, **FUZZ)
def test_with_publishable_key(case, app, tenant):
    case.call_and_validate(app=app, headers=tenant.publishable_headers, checks=CHECKS)
