"""Firebase Cloud Messaging, HTTP v1 API: one POST per message over kept-alive connections.

Errors follow FCM's documented handling: ``UNREGISTERED`` disables the device;
``INVALID_ARGUMENT`` disables it only when the error is about the token (the message or its
``fieldViolations`` name the registration token), otherwise it is the content's fault;
``QUOTA_EXCEEDED``, ``UNAVAILABLE`` and ``INTERNAL`` are retried later honouring
``Retry-After``; an expired access token is refreshed and the message sent once more (a 401
means FCM accepted nothing).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any

import orjson

from app.channels.base import OutboundMessage, Outcome, SendResult
from app.channels.fanout import fan_out
from app.channels.push.google_auth import AuthError, ServiceAccountTokens
from app.channels.push.payload import PushContent, retry_after_s
from app.channels.transport.http1 import Http1Pool, Response, TransportError

FCM_ORIGIN = "https://fcm.googleapis.com"
DEFAULT_RETRY_S = 60.0
_DEAD_TOKEN_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}
_RETRY_STATUSES = {429, 500, 502, 503, 504}


def fcm_body(token: str, push: PushContent) -> dict[str, Any]:
    notification: dict[str, Any] = {"title": push.title, "body": push.body}
    if push.image:
        notification["image"] = push.image
    data = dict(push.data)
    if push.deep_link:
        data["deep_link"] = push.deep_link
    android: dict[str, Any] = {"priority": "high"}
    android_notification: dict[str, Any] = {}
    apns_aps: dict[str, Any] = {}
    if push.ttl_s is not None:
        android["ttl"] = f"{push.ttl_s}s"
    if push.collapse_key:
        android["collapse_key"] = push.collapse_key
    if push.sound:
        android_notification["sound"] = push.sound
        apns_aps["sound"] = push.sound
    if push.badge is not None:
        android_notification["notification_count"] = push.badge
        apns_aps["badge"] = push.badge
    if android_notification:
        android["notification"] = android_notification
    message: dict[str, Any] = {"token": token, "notification": notification, "android": android}
    if data:
        message["data"] = data
    if apns_aps:
        message["apns"] = {"payload": {"aps": apns_aps}}
    if push.deep_link and push.deep_link.startswith("https://"):
        message["webpush"] = {"fcm_options": {"link": push.deep_link}}
    return {"message": message}


class FcmChannel:
    name = "push"

    def __init__(
        self,
        service_account: dict[str, Any],
        *,
        origin: str = FCM_ORIGIN,
        max_connections: int = 64,
        ssl_context: ssl.SSLContext | None = None,
        tokens: ServiceAccountTokens | None = None,
    ) -> None:
        project = service_account.get("project_id")
        if not project:
            raise ValueError("the service account JSON has no 'project_id'")
        self.path = f"/v1/projects/{project}/messages:send"
        self.tokens = tokens or ServiceAccountTokens(service_account)
        self.pool = Http1Pool(origin, max_connections=max_connections, ssl_context=ssl_context)
        self.concurrency = max_connections

    async def send(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return await fan_out(messages, self._send_one, self.concurrency)

    async def aclose(self) -> None:
        await self.pool.aclose()
        await self.tokens.aclose()

    async def _send_one(self, message: OutboundMessage) -> SendResult:
        token = message.address.get("token")
        if not token:
            return SendResult(message.delivery_id, Outcome.failed, error="no FCM token in address")
        try:
            body = orjson.dumps(fcm_body(str(token), PushContent.from_content(message.content)))
        except (TypeError, ValueError) as exc:
            return SendResult(message.delivery_id, Outcome.failed, error=f"bad content: {exc}")
        for _attempt in range(2):
            try:
                access = await self.tokens.token()
            except AuthError as exc:
                return SendResult(
                    message.delivery_id, Outcome.retry, error=str(exc), retry_after_s=DEFAULT_RETRY_S
                )
            headers = [
                ("authorization", f"Bearer {access}"),
                ("content-type", "application/json; charset=UTF-8"),
            ]
            try:
                response = await self.pool.request("POST", self.path, headers, body)
            except TransportError as exc:
                return SendResult(message.delivery_id, Outcome.retry, error=f"FCM: {exc}")
            if response.status != 401:
                return _result(message, response)
            self.tokens.invalidate()
        return SendResult(message.delivery_id, Outcome.retry, error="FCM refused fresh access tokens")


def _result(message: OutboundMessage, response: Response) -> SendResult:
    delivery_id = message.delivery_id
    try:
        answer = orjson.loads(response.body) if response.body else {}
    except orjson.JSONDecodeError:
        answer = {}
    if response.status == 200:
        return SendResult(delivery_id, Outcome.sent, provider_id=answer.get("name"))
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code = _fcm_error_code(error) or str(error.get("status") or response.status)
    text = f"FCM {response.status} {code}: {error.get('message', '')}"[:500]
    if response.status in _RETRY_STATUSES:
        wait = retry_after_s(response.headers.get("retry-after"), DEFAULT_RETRY_S)
        return SendResult(delivery_id, Outcome.retry, error=text, retry_after_s=wait)
    feedback: dict[str, Any] = {}
    device_id = message.address.get("device_id")
    if device_id and (code in _DEAD_TOKEN_CODES or (code == "INVALID_ARGUMENT" and _about_token(error))):
        feedback = {"disable_device": str(device_id)}
    return SendResult(delivery_id, Outcome.failed, error=text, feedback=feedback)


def _fcm_error_code(error: dict[str, Any]) -> str | None:
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.firebase.fcm.v1.FcmError"):
            return detail.get("errorCode")
    return None


def _about_token(error: dict[str, Any]) -> bool:
    if "registration token" in str(error.get("message", "")).lower():
        return True
    for detail in error.get("details") or []:
        for violation in (detail or {}).get("fieldViolations") or []:
            if violation.get("field") == "message.token":
                return True
    return False
