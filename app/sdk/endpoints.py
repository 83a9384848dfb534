"""Serving the SDK files, and the public configuration the SDK needs."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from app.auth.dependencies import AnyKey
from app.credentials.service import masked_all
from app.kit.session import DbSession

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["sdk"])
_CACHE = {"Cache-Control": "public, max-age=300"}


@router.get("/sdk/nudge.js", include_in_schema=False)
def sdk_script() -> FileResponse:
    return FileResponse(STATIC / "nudge.js", media_type="text/javascript", headers=_CACHE)


@router.get("/sdk/nudge-sw.js", include_in_schema=False)
def sdk_service_worker() -> FileResponse:
    # Allowed to control the whole site, wherever the app mounts it.
    return FileResponse(
        STATIC / "nudge-sw.js",
        media_type="text/javascript",
        headers={**_CACHE, "Service-Worker-Allowed": "/"},
    )


@router.get("/sdk/demo", include_in_schema=False)
def sdk_demo() -> FileResponse:
    return FileResponse(STATIC / "demo.html", media_type="text/html")


class SdkConfig(BaseModel):
    vapid_public_key: str | None


@router.get(
    "/v1/sdk/config", response_model=SdkConfig, summary="What the browser SDK needs (public values only)"
)
def sdk_config(session: DbSession, _auth: AnyKey) -> SdkConfig:
    webpush = masked_all(session).get("webpush") or {}
    return SdkConfig(vapid_public_key=webpush.get("vapid_public_key"))
