"""An FCM HTTP v1 stand-in: a Google token endpoint that checks the service account's signed
JWT, and messages:send that checks the bearer token and body shape and answers with FCM's
real error bodies, chosen by the device token's prefix:

``dead-`` 404 UNREGISTERED, ``badtoken-`` 400 INVALID_ARGUMENT about the token,
``badcontent-`` 400 INVALID_ARGUMENT about the payload, ``busy-`` 429 QUOTA_EXCEEDED once,
``down-`` 503 UNAVAILABLE once, ``sick-`` 503 UNAVAILABLE always (each with ``retry_after``);
anything else is accepted (and recorded)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.channels.standins.http1_server import Answer, Request

PROJECT = "nudge-test"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def _fcm_error(code: int, status: str, message: str, error_code: str, extra: list | None = None) -> bytes:
    details = [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}]
    return orjson.dumps(
        {"error": {"code": code, "message": message, "status": status, "details": details + (extra or [])}}
    )


@dataclass
class FcmStandIn:
    origin: str = ""
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    issued: set[str] = field(default_factory=set)
    exchanges: int = 0
    accepted: list[dict] = field(default_factory=list)
    seen_once: set[str] = field(default_factory=set)
    retry_after: str = "7"
    _counter: itertools.count = field(default_factory=itertools.count)

    def service_account(self) -> dict:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "kid-1",
            "private_key": pem,
            "client_email": f"nudge@{PROJECT}.iam.gserviceaccount.com",
            "token_uri": f"{self.origin}/token",
        }

    def revoke_tokens(self) -> None:
        self.issued.clear()

    def __call__(self, request: Request) -> Answer:
        if request.path == "/token":
            return self._token(request)
        if request.path == f"/v1/projects/{PROJECT}/messages:send" and request.method == "POST":
            return self._send(request)
        return 404, {}, b"Not Found"

    def _token(self, request: Request) -> Answer:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {}, orjson.dumps({"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form["assertion"],
                self.key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.origin}/token",
            )
        except (KeyError, jwt.InvalidTokenError) as exc:
            return 400, {}, orjson.dumps({"error": "invalid_grant", "error_description": str(exc)})
        assert jwt.get_unverified_header(form["assertion"])["kid"] == "kid-1"
        assert claims["iss"] == f"nudge@{PROJECT}.iam.gserviceaccount.com" and claims["scope"] == SCOPE
        assert 0 < claims["exp"] - claims["iat"] <= 3600
        self.exchanges += 1
        token = f"ya29.test-{next(self._counter)}"
        self.issued.add(token)
        body = {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        return 200, {"content-type": "application/json"}, orjson.dumps(body)

    def _send(self, request: Request) -> Answer:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.issued:
            body = {
                "error": {
                    "code": 401,
                    "message": "Request had invalid authentication credentials.",
                    "status": "UNAUTHENTICATED",
                }
            }
            return 401, {"content-type": "application/json"}, orjson.dumps(body)
        assert request.headers["content-type"].startswith("application/json")
        message = orjson.loads(request.body)["message"]
        assert set(message) <= {"token", "notification", "data", "android", "apns", "webpush"}
        assert isinstance(message["token"], str) and isinstance(message["notification"]["title"], str)
        assert all(isinstance(v, str) for v in message.get("data", {}).values())
        token = message["token"]
        headers = {"content-type": "application/json"}
        if token.startswith("dead-"):
            return (
                404,
                headers,
                _fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
            )
        if token.startswith("badtoken-"):
            return (
                400,
                headers,
                _fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT",
                ),
            )
        if token.startswith("badcontent-"):
            violation = {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.android.ttl", "description": "Invalid value"}],
            }
            return (
                400,
                headers,
                _fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Invalid value at 'message.android.ttl'",
                    "INVALID_ARGUMENT",
                    [violation],
                ),
            )
        for prefix, status, name, code, always in (
            ("busy-", 429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", False),
            ("down-", 503, "UNAVAILABLE", "UNAVAILABLE", False),
            ("sick-", 503, "UNAVAILABLE", "UNAVAILABLE", True),
        ):
            if token.startswith(prefix) and (always or token not in self.seen_once):
                self.seen_once.add(token)
                return (
                    status,
                    {**headers, "retry-after": self.retry_after},
                    _fcm_error(status, name, "The service is busy.", code),
                )
        self.accepted.append(message)
        name = f"projects/{PROJECT}/messages/0:{len(self.accepted)}"
        return 200, headers, orjson.dumps({"name": name})
