"""What one compilation knows: the workspace, the SQL dialect and the moment it is evaluated at."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Dialect = Literal["postgresql", "sqlite"]
Mode = Literal["set", "user"]


@dataclass(frozen=True)
class Context:
    workspace_id: uuid.UUID
    dialect: Dialect
    now: datetime
    # "set": every member at once (derived tables joined to users); "user": one user's row,
    # with correlated subqueries that follow that user's index entries.
    mode: Mode = "set"

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"
