"""Base for request bodies: a value Postgres cannot store (NUL or an unpaired surrogate in
text, a number that is not finite or does not fit in 64 bits, nesting past 32 levels) is
refused at the door with 422, naming the field and the path inside it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

from app.kit.validators import unstorable

UNSTORABLE = "unstorable"  # the error type; its context holds the path inside the field


class RequestModel(BaseModel):
    # Per field rather than per model, so the error is located at the field it is about; after
    # the field's own validation (a discriminator allows no other), which keeps what we refuse.
    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        found = unstorable(value)
        if found:
            path, problem = found
            raise PydanticCustomError(UNSTORABLE, "{problem}", {"path": path, "problem": problem})
        return value
