"""A Web Push service stand-in that also plays the browser: it holds the subscription's
private key and auth secret, checks the VAPID header (RFC 8292) and decrypts each aes128gcm
body (RFC 8291/8188) itself, so a test sees exactly what the service worker would.

Endpoint paths: ``/push/gone-…`` 410, ``/push/missing-…`` 404, ``/push/busy-…`` 429 once;
anything else 201 Created."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass, field

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.channels.standins.http1_server import Answer, Request


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass
class Browser:
    """A subscription's keys as a browser keeps them."""

    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def public_raw(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def keys(self) -> dict[str, str]:
        return {"p256dh": _b64(self.public_raw), "auth": _b64(self.auth)}

    def decrypt(self, body: bytes) -> bytes:
        salt, (record_size, id_length) = body[:16], struct.unpack("!IB", body[16:21])
        sender_public = body[21 : 21 + id_length]
        assert record_size >= 18 and id_length == 65
        sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_public)
        shared = self.private_key.exchange(ec.ECDH(), sender)
        ikm = _hmac(
            _hmac(self.auth, shared), b"WebPush: info\x00" + self.public_raw + sender_public + b"\x01"
        )
        prk = _hmac(salt, ikm)
        cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
        nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
        plain = AESGCM(cek).decrypt(nonce, body[21 + id_length :], None).rstrip(b"\x00")
        assert plain.endswith(b"\x02"), "the last record must end with the 0x02 delimiter"
        return plain[:-1]


@dataclass
class WebPushStandIn:
    origin: str = ""
    browsers: dict[str, Browser] = field(default_factory=dict)  # endpoint path -> keys
    delivered: list[tuple[str, dict, dict]] = field(default_factory=list)  # (path, headers, payload)
    seen_once: set[str] = field(default_factory=set)

    def subscribe(self, name: str) -> dict:
        path = f"/push/{name}"
        browser = self.browsers[path] = Browser()
        return {"token": f"{self.origin}{path}", **browser.keys()}

    def __call__(self, request: Request) -> Answer:
        h = request.headers
        scheme, _, params = h.get("authorization", "").partition(" ")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        assert scheme == "vapid" and set(fields) == {"t", "k"}
        server_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(fields["k"]))
        try:
            claims = jwt.decode(fields["t"], server_key, algorithms=["ES256"], audience=self.origin)
        except jwt.InvalidTokenError as exc:
            return 403, {}, f"bad VAPID token: {exc}".encode()
        assert claims["exp"] <= time.time() + 24 * 3600 and claims["sub"].startswith(("mailto:", "https:"))
        assert (
            h["content-encoding"] == "aes128gcm" and int(h["ttl"]) >= 0 and h["urgency"] in ("normal", "high")
        )
        path = request.path
        name = path.removeprefix("/push/")
        if name.startswith("gone-"):
            return 410, {}, b"push subscription has unsubscribed or expired."
        if name.startswith("missing-"):
            return 404, {}, b"Not Found"
        if name.startswith("busy-") and name not in self.seen_once:
            self.seen_once.add(name)
            return 429, {"retry-after": "5"}, b"Too Many Requests"
        payload = orjson.loads(self.browsers[path].decrypt(request.body))
        self.delivered.append((path, dict(h), payload))
        return 201, {"location": f"{self.origin}/message/{len(self.delivered)}"}, b""
