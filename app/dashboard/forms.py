"""HTML forms: read the body once (before the page's sync code runs), validate it with a
Pydantic model, and hand back field errors to show beside the inputs."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.kit.error_handlers import error_field
from app.kit.errors import NudgeError

M = TypeVar("M", bound=BaseModel)


class FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def parse(model: type[M], form: FormData) -> M:
    """The form as ``model``; blank fields count as absent. Raises FormErrors by field."""
    values = {
        name: value.strip()
        for name in model.model_fields
        if isinstance(value := form.get(name), str) and value.strip() != ""
    }
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(name, _message(error["type"], error["msg"]))
        raise FormErrors(errors) from None


def errors_by_path(exc: ValidationError, document: Any) -> FormErrors:
    """A document's validation errors keyed by the path the API would name
    (``variants[1].content.subject``), which is also the input's name."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = error_field(error, document)
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        errors.setdefault(name, message[:1].upper() + message[1:].rstrip(".") + ".")
    return FormErrors(errors)


def field_error(exc: NudgeError) -> FormErrors:
    """A service's refusal (a taken email, a role that cannot be granted) as a field error."""
    return FormErrors({exc.field or "form": exc.message})


def _message(kind: str, message: str) -> str:
    if kind == "missing":
        return "Required."
    return message.removeprefix("Value error, ").rstrip(".") + "."
