"""The variable editor's form: plain fields plus JSON for rules and variants, turned into the
same request models the API takes (so every check is the API's)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from app.content.schemas import VariableIn, VariableUpdate
from app.dashboard.forms import FormErrors
from app.models import Variable

FIELDS = ("key", "type", "description", "default", "rules", "variants", "experiment", "version")


def values_of(variable: Variable | None) -> dict[str, str]:
    """The form's fields for ``variable`` (or a new one)."""
    if variable is None:
        return {"type": "string", "default": "", "rules": "[]", "variants": "[]"}
    default = variable.default_value
    return {
        "key": variable.key,
        "type": variable.type,
        "description": variable.description or "",
        "default": default if variable.type == "string" else json.dumps(default),
        "rules": json.dumps(variable.rules, indent=2),
        "variants": json.dumps(variable.variants, indent=2),
        "experiment": variable.experiment or "",
        "version": str(variable.version),
    }


def new_variable(form: FormData) -> VariableIn:
    return _validated(VariableIn, {"key": _text(form, "key"), **_document(form)})


def changes(form: FormData) -> VariableUpdate:
    return _validated(VariableUpdate, {**_document(form), "version": _text(form, "version") or None})


def _document(form: FormData) -> dict[str, Any]:
    type_ = _text(form, "type") or "string"
    raw_default = str(form.get("default") or "")
    return {
        "type": type_,
        # Empty clears, as the API's null does.
        "description": _text(form, "description") or None,
        "default": raw_default if type_ == "string" else _json(raw_default, "default"),
        "rules": _json(_text(form, "rules") or "[]", "rules"),
        "variants": _json(_text(form, "variants") or "[]", "variants"),
        "experiment": _text(form, "experiment") or None,
    }


def _validated(model: type[BaseModel], document: dict[str, Any]) -> Any:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "form"
            where = ".".join(str(p) for p in error["loc"][1:])
            message = error["msg"].removeprefix("Value error, ")
            errors.setdefault(name if name in FIELDS else "form", f"{where}: {message}" if where else message)
        raise FormErrors(errors) from None


def _json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise FormErrors({field: "Not valid JSON."}) from None


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
