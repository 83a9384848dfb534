from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.kit.schemas import RequestModel
from app.kit.validators import TimeZoneName
from app.models import KeyKind

WorkspaceName = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class WorkspaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    timezone: str
    created_at: datetime


class WorkspaceUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    name: WorkspaceName | None = None
    timezone: TimeZoneName | None = Field(default=None, description="Used for users without a zone")


class KeyCreate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    kind: KeyKind
    name: Annotated[str, StringConstraints(max_length=200)] = ""


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: KeyKind
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. Shown this once; only its hash is stored.")
