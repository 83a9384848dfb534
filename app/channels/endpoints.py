"""The test-send route; the work is in app.channels.test_sends."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.auth.dependencies import SecretKey
from app.channels.test_sends import TestSend, TestSendResult, send_test
from app.idempotency.dependencies import Idempotent
from app.kit.session import DbSession

router = APIRouter(prefix="/v1", tags=["content"])


@router.post(
    "/test-sends",
    response_model=list[TestSendResult],
    dependencies=[Idempotent],
    summary="Send a content to a few users now",
)
async def test_send(
    body: TestSend, request: Request, session: DbSession, auth: SecretKey
) -> list[TestSendResult]:
    state = request.app.state
    return await send_test(
        session, body, workspace_id=auth.workspace_id, settings=state.settings, database=state.database
    )
