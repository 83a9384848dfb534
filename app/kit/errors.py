"""One error type, stable machine-readable codes, one JSON shape for every 4xx."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class ErrorCode(StrEnum):
    validation_error = "validation_error"
    invalid_json = "invalid_json"
    payload_too_large = "payload_too_large"
    unauthorized = "unauthorized"
    forbidden = "forbidden"
    not_found = "not_found"
    conflict = "conflict"
    idempotency_key_reused = "idempotency_key_reused"
    idempotency_in_progress = "idempotency_in_progress"
    limit_exceeded = "limit_exceeded"
    method_not_allowed = "method_not_allowed"
    unsupported_media_type = "unsupported_media_type"
    unavailable = "unavailable"


class NudgeError(Exception):
    """An expected failure; the handler turns it into ``{"error": {...}}`` with ``status``."""

    status = 400
    code = ErrorCode.validation_error

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        code: ErrorCode | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.field)


class NotFound(NudgeError):
    status = 404
    code = ErrorCode.not_found


class Unauthorized(NudgeError):
    status = 401
    code = ErrorCode.unauthorized


class Forbidden(NudgeError):
    status = 403
    code = ErrorCode.forbidden


class Conflict(NudgeError):
    status = 409
    code = ErrorCode.conflict


class Invalid(NudgeError):
    status = 422
    code = ErrorCode.validation_error


class TooLarge(NudgeError):
    status = 413
    code = ErrorCode.payload_too_large


def error_body(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "field": field, **extra}}


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx answer (documented in OpenAPI)."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (400, 401, 403, 404, 409, 413, 422)
}
