"""Base for request bodies: text with NUL characters is refused at the door with the path to
it (Postgres cannot store NUL in text or JSONB, and no legitimate input needs it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator


def find_nul(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string (or key) holding a NUL character, or None."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return where
            found = find_nul(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


class RequestModel(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = find_nul(data)
        if where:
            raise ValueError(f"{where}: text may not contain NUL (\\u0000) characters")
        return data
