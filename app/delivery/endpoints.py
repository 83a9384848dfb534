from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import SecretKey
from app.delivery import policy
from app.delivery.schemas import DeliveryPolicyBody
from app.kit.session import DbSession

router = APIRouter(prefix="/v1/delivery-policy", tags=["campaigns"])


@router.get("", response_model=DeliveryPolicyBody, summary="Quiet hours, frequency caps and rates")
def get_policy(session: DbSession, _auth: SecretKey) -> DeliveryPolicyBody:
    return policy.get(session)


@router.put("", response_model=DeliveryPolicyBody, summary="Replace the workspace's delivery policy")
def put_policy(body: DeliveryPolicyBody, session: DbSession, _auth: SecretKey) -> DeliveryPolicyBody:
    return policy.put(session, body)
