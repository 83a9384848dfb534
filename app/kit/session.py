"""The request's session as a dependency (the unit of work owns commit and rollback)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.kit.unit_of_work import unit_of_work


async def request_session(request: Request) -> Session:
    uow = unit_of_work(request)
    await uow.reserve()
    return uow.session


DbSession = Annotated[Session, Depends(request_session)]
