"""Liveness (the process answers) and readiness (its database and broker answer)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from app.kit.metrics import render
from app.kit.responses import JsonResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    # Async: answered on the event loop, without a worker thread.
    return {"status": "ok"}


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
def metrics() -> Response:
    return render()


@router.get("/readyz", summary="The database and broker are reachable")
async def readyz(request: Request) -> JsonResponse:
    checks = await anyio.to_thread.run_sync(_check, request)
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


def _check(request: Request) -> dict[str, str]:
    checks: dict[str, str] = {}
    database = request.app.state.database
    try:
        with database.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    broker = database.settings.broker_url
    if broker is None:
        checks["broker"] = "ok"  # in-process worker
    else:
        checks["broker"] = _ping_broker(broker)
    return checks


def _ping_broker(url: str) -> str:
    try:
        from kombu import Connection

        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
