"""The ``Idempotency-Key`` dependency for POST routes that create or send."""

from __future__ import annotations

import hashlib
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request

from app.auth.dependencies import authenticate
from app.auth.service import AuthContext
from app.idempotency import service
from app.kit.errors import Invalid
from app.kit.unit_of_work import IdempotencyClaim, unit_of_work


class IdempotentReplay(Exception):
    """Answer with a stored response instead of running the route again."""

    def __init__(self, replay: service.Replay) -> None:
        self.replay = replay


async def idempotency(
    request: Request,
    auth: Annotated[AuthContext, Depends(authenticate)],
    idempotency_key: Annotated[
        str | None,
        Header(description="Repeat a POST safely: same key and body within 24 h replays the answer."),
    ] = None,
) -> None:
    if idempotency_key is None:
        return
    if not 1 <= len(idempotency_key) <= 255:
        raise Invalid("Idempotency-Key must be 1 to 255 characters", field="Idempotency-Key")
    body = await request.body()
    digest = hashlib.sha256(request.url.path.encode() + b"\0" + body).hexdigest()
    uow = unit_of_work(request)
    outcome = await anyio.to_thread.run_sync(
        service.claim, uow.database, auth.workspace_id, idempotency_key, digest
    )
    if isinstance(outcome, service.Replay):
        raise IdempotentReplay(outcome)
    claim_id = outcome
    uow.idempotency = IdempotencyClaim(
        workspace_id=auth.workspace_id,
        claim_id=claim_id,
        complete=lambda session, status, body: service.complete(session, claim_id, status, body),
        release=lambda: service.release(uow.database, auth.workspace_id, claim_id),
    )


Idempotent = Depends(idempotency)
