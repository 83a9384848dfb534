"""The request's session as a dependency (the unit of work owns commit and rollback)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.kit.unit_of_work import unit_of_work


def request_session(request: Request) -> Session:
    return unit_of_work(request).session


DbSession = Annotated[Session, Depends(request_session)]
