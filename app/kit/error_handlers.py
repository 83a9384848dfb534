"""The one place errors become HTTP answers. Expected failures are 4xx with a stable code and
the field at fault; only a bug can produce a 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.idempotency.dependencies import IdempotentReplay
from app.kit.errors import ErrorCode, NudgeError, error_body
from app.kit.responses import JsonResponse

_STATUS_CODES = {
    400: ErrorCode.invalid_json,  # FastAPI raises 400 only when it cannot parse the body
    401: ErrorCode.unauthorized,
    403: ErrorCode.forbidden,
    404: ErrorCode.not_found,
    405: ErrorCode.method_not_allowed,
    409: ErrorCode.conflict,
    413: ErrorCode.payload_too_large,
    415: ErrorCode.unsupported_media_type,
}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "events", 3, "timezone")`` -> ``"events[3].timezone"``."""
    parts: list[str] = []
    for item in loc:
        if item in ("body", "query", "path", "header") and not parts:
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or str(loc[0] if loc else "body")


def _validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    if first.get("type") == "json_invalid":
        return JsonResponse(
            error_body(ErrorCode.invalid_json, "the request body is not valid JSON", "body"), status_code=400
        )
    field = field_path(first.get("loc", ()))
    message = f"{field}: {first.get('msg', 'invalid value')}"
    details = [{"field": field_path(e.get("loc", ())), "message": e.get("msg", "")} for e in errors[:50]]
    return JsonResponse(
        error_body(ErrorCode.validation_error, message, field, details=details), status_code=422
    )


def _nudge(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NudgeError)
    return JsonResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _http(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, ErrorCode.validation_error)
    if code is ErrorCode.invalid_json:
        body = error_body(code, "the request body is not valid UTF-8 JSON (or is nested too deeply)", "body")
    else:
        body = error_body(code, str(exc.detail))
    return JsonResponse(body, status_code=exc.status_code, headers=exc.headers)


def _data_error(_request: Request, exc: Exception) -> Response:
    # The last wall: a value that passed validation but the database cannot store (the
    # transaction is rolled back, so nothing is half-written).
    assert isinstance(exc, DataError)
    detail = str(exc.orig).splitlines()[0] if exc.orig else "value not storable"
    return JsonResponse(
        error_body(ErrorCode.validation_error, f"a value cannot be stored: {detail}"), status_code=422
    )


def _replay(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return Response(
        exc.replay.body,
        status_code=exc.replay.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(NudgeError, _nudge)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_exception_handler(DataError, _data_error)
