"""The API-key schemes in the OpenAPI document, named on every operation that authenticates.

Not ``Security`` parameters of ``authenticate``: FastAPI would solve both on every request
(twice on routes that also take an Idempotency-Key) for the document's sake alone; the key is
read from the header by ``authenticate`` in either form.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPBasic, HTTPBearer
from fastapi.security.base import SecurityBase

from app.auth.dependencies import authenticate

_SCHEMES: dict[str, SecurityBase] = {
    "HTTPBearer": HTTPBearer(description="Secret or publishable API key"),
    "_DocumentedBasic": HTTPBasic(description="API key as the user name (Segment-compatible)"),
}


def document_api_keys(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Name the API-key schemes in ``app``'s OpenAPI document, on the operations of ``routers``
    that authenticate with a key."""
    secured = [
        (route.path_format, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and _authenticates(route.dependant)
        for method in route.methods
    ]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        for name, scheme in _SCHEMES.items():
            schemes[name] = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
        for path, method in secured:
            operation = document["paths"].get(path, {}).get(method)
            if operation is not None:
                operation["security"] = [{name: []} for name in _SCHEMES]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _authenticates(dependant: Dependant) -> bool:
    return any(d.call is authenticate or _authenticates(d) for d in dependant.dependencies)
