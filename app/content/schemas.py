from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.kit.schemas import RequestModel
from app.segments.schemas import DEFINITION_DOC, Description

VariableType = Literal["string", "number", "boolean", "json"]
# Keys travel in paths and in ``?keys=a,b``: no commas, slashes or spaces.
VariableKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
VariantKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Experiment = Annotated[str, StringConstraints(min_length=1, max_length=128)]
VALUE_DOC = "A value of the variable's type: string, number, boolean, or any JSON for `json`"


class Rule(RequestModel):
    """Users in the segment get ``value``; rules are tried in order and the first match wins."""

    model_config = ConfigDict(extra="forbid")

    segment_id: uuid.UUID | None = Field(default=None, description="A saved segment")
    definition: dict[str, Any] | None = Field(default=None, description=f"Or inline: {DEFINITION_DOC}")
    value: Any = Field(description=VALUE_DOC)

    @model_validator(mode="after")
    def _one_segment(self) -> Rule:
        if (self.segment_id is None) == (self.definition is None):
            raise ValueError("give exactly one of segment_id and definition")
        return self


class Variant(RequestModel):
    model_config = ConfigDict(extra="forbid")

    key: VariantKey
    weight: int = Field(default=1, ge=1, le=10_000)
    value: Any = Field(description=VALUE_DOC)


class VariableIn(RequestModel):
    model_config = ConfigDict(extra="forbid")

    key: VariableKey
    type: VariableType
    description: Description | None = None
    default: Any = Field(description=VALUE_DOC)
    rules: list[Rule] = Field(default_factory=list, max_length=50)
    variants: list[Variant] = Field(
        default_factory=list,
        max_length=16,
        description="A/B variants for users no rule matched, chosen by a stable hash of the user",
    )
    experiment: Experiment | None = Field(
        default=None,
        description="Variables naming the same experiment (with the same weights) split users alike",
    )


class VariableUpdate(RequestModel):
    """Fields to change; omitted fields stay as they are. Each change adds one to ``version``."""

    model_config = ConfigDict(extra="forbid")

    type: VariableType | None = None
    description: Description | None = None
    default: Any = Field(default=None, description=VALUE_DOC)
    rules: list[Rule] | None = Field(default=None, max_length=50)
    variants: list[Variant] | None = Field(default=None, max_length=16)
    experiment: Experiment | None = None
    archived: bool | None = Field(default=None, description="Archived variables are no longer served")
    version: int | None = Field(
        default=None, ge=1, description="The version you read: 409 when someone changed it since"
    )


class VariableOut(BaseModel):
    key: str
    type: VariableType
    description: str | None
    default: Any
    rules: list[dict[str, Any]]
    variants: list[dict[str, Any]]
    experiment: str | None
    version: int
    archived: bool
    created_at: datetime
    updated_at: datetime


class VariablePage(BaseModel):
    data: list[VariableOut]
    next_cursor: str | None


class ContentOut(BaseModel):
    values: dict[str, Any] = Field(description="Each variable's value for this user")
    variants: dict[str, str] = Field(description="The A/B variant the user is in, per variable in one")
