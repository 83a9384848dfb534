"""The one place errors become HTTP answers. Expected failures are 4xx with a stable code and
the field at fault; only a bug can produce a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.idempotency.dependencies import IdempotentReplay
from app.kit.errors import ErrorCode, NudgeError, error_body
from app.kit.responses import JsonResponse
from app.kit.schemas import UNSTORABLE
from app.kit.validators import printable

_UNKNOWN: Any = object()  # no document to check a location against

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


def field_path(loc: tuple[Any, ...] | list[Any], document: Any = _UNKNOWN) -> str:
    """``("body", "events", 3, "timezone")`` -> ``"events[3].timezone"``.

    Given the ``document`` that failed, steps that do not address into it are dropped: they are
    the names pydantic gives union members (``"int"``, ``"webpush"``), not fields of the request.
    """
    parts: list[str] = []
    node = document
    for position, item in enumerate(loc):
        if position == 0 and item in ("body", "query", "path", "header"):
            continue
        if node is not _UNKNOWN:
            if _addresses(node, item):
                node = node[item]
            elif isinstance(node, dict) and position == len(loc) - 1:
                node = _UNKNOWN  # a missing field: named, though absent from the document
            else:
                continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # A key may hold an unpaired surrogate: escape it so the answer itself can be encoded.
            parts.append(("." if parts else "") + printable(str(item)))
    return "".join(parts) or str(loc[0] if loc else "body")


def _addresses(node: Any, item: Any) -> bool:
    if isinstance(node, dict):
        return item in node
    return isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)


def error_field(error: Mapping[str, Any], document: Any = _UNKNOWN) -> str:
    """The field a pydantic error is about; a bad union tag names the discriminator itself."""
    field = field_path(error.get("loc", ()), document)
    if error.get("type") == UNSTORABLE:
        inside = str((error.get("ctx") or {}).get("path", ""))
        if field != "body":
            field += inside
        elif inside:
            field = inside.lstrip(".")
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        tag = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
        if tag:
            field = tag if field == "body" else f"{field}.{tag}"
    return field


def _request_field(error: Mapping[str, Any], body: Any) -> str:
    located_in_body = tuple(error.get("loc", ()))[:1] == ("body",)
    return error_field(error, body if located_in_body else _UNKNOWN)


def _validation(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": "value_error"}
    if first.get("type") == "json_invalid":
        return JsonResponse(
            error_body(ErrorCode.invalid_json, "the request body is not valid JSON", "body"), status_code=400
        )
    field = _request_field(first, exc.body)
    message = f"{field}: {first.get('msg', 'invalid value')}"
    details = [{"field": _request_field(e, exc.body), "message": e.get("msg", "")} for e in errors[:50]]
    return JsonResponse(
        error_body(ErrorCode.validation_error, message, field, details=details), status_code=422
    )


def _nudge(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NudgeError)
    return JsonResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _http(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # FastAPI's answer to a body it could not decode (not UTF-8, nested too deep to parse).
        message = (
            "the request body is not valid UTF-8"
            if isinstance(exc.__cause__, UnicodeDecodeError)
            else "the request body is not valid JSON"
        )
        return JsonResponse(error_body(ErrorCode.invalid_json, message, "body"), status_code=400)
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


def _database_unavailable(_request: Request, _exc: Exception) -> Response:
    # The server went away (a restart, a failover) or cancelled the statement: the transaction
    # is rolled back and the same request can be sent again.
    return JsonResponse(
        error_body(ErrorCode.unavailable, "the database is unavailable or did not answer in time; retry"),
        status_code=503,
        headers={"Retry-After": "1"},
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
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
