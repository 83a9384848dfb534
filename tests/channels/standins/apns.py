"""An APNs stand-in: checks the provider JWT (ES256, kid, team), the request headers and the
payload shape, and answers with APNs' real error bodies, chosen by the device token:

``bad0…`` 400 BadDeviceToken, ``dead…`` 410 Unregistered, ``cafe…`` 429 TooManyRequests once,
``5e5e…`` 503 ServiceUnavailable once; anything else is accepted and its apns-id recorded."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.channels.standins.http1_server import Answer, Request

TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY7654321", "com.acme.app"


@dataclass
class ApnsStandIn:
    environment: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    accepted: list[tuple[str, dict, dict]] = field(default_factory=list)  # (apns-id, headers, payload)
    seen_once: set[str] = field(default_factory=set)
    provider_tokens: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)

    def expire_provider_tokens(self) -> None:
        self.expired |= self.provider_tokens

    def p8(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def __call__(self, request: Request) -> Answer:
        h = request.headers
        if request.method != "POST" or not request.path.startswith("/3/device/"):
            return 404, {}, orjson.dumps({"reason": "BadPath"})
        token = request.path.removeprefix("/3/device/")
        scheme, _, provider_token = h.get("authorization", "").partition(" ")
        if scheme != "bearer":
            return 403, {}, orjson.dumps({"reason": "MissingProviderToken"})
        try:
            claims = jwt.decode(provider_token, self.key.public_key(), algorithms=["ES256"])
        except jwt.InvalidTokenError:
            return 403, {}, orjson.dumps({"reason": "InvalidProviderToken"})
        assert jwt.get_unverified_header(provider_token)["kid"] == KEY_ID and claims["iss"] == TEAM
        self.provider_tokens.add(provider_token)
        if provider_token in self.expired:
            return 403, {}, orjson.dumps({"reason": "ExpiredProviderToken"})
        apns_id = h["apns-id"]
        assert str(uuid.UUID(apns_id)) == apns_id
        if h.get("apns-topic") != TOPIC:
            return 400, {"apns-id": apns_id}, orjson.dumps({"reason": "DeviceTokenNotForTopic"})
        assert h["apns-push-type"] in ("alert", "background") and h["apns-priority"] in ("5", "10")
        payload = orjson.loads(request.body)
        assert isinstance(payload["aps"], dict) and len(request.body) <= 4096
        if token.startswith("bad0"):
            return 400, {"apns-id": apns_id}, orjson.dumps({"reason": "BadDeviceToken"})
        if token.startswith("dead"):
            body = {"reason": "Unregistered", "timestamp": int(time.time() * 1000)}
            return 410, {"apns-id": apns_id}, orjson.dumps(body)
        for prefix, status, reason in (("cafe", 429, "TooManyRequests"), ("5e5e", 503, "ServiceUnavailable")):
            if token.startswith(prefix) and token not in self.seen_once:
                self.seen_once.add(token)
                return status, {"apns-id": apns_id, "retry-after": "3"}, orjson.dumps({"reason": reason})
        self.accepted.append((apns_id, dict(h), payload))
        return 200, {"apns-id": apns_id}, b""
