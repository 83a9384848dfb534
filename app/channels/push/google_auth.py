"""OAuth2 access tokens for a Google service account (RFC 7523 JWT bearer grant): a JWT
signed with the account's key is exchanged at its ``token_uri``. Tokens are cached until
five minutes before expiry, and concurrent callers share one exchange."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import orjson

from app.channels.transport.http1 import Http1Pool, TransportError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_EARLY_S = 300
_LIFETIME_S = 3600


class AuthError(Exception):
    """No access token could be obtained."""


class ServiceAccountTokens:
    def __init__(
        self, account: dict[str, Any], *, scope: str = FCM_SCOPE, pool: Http1Pool | None = None
    ) -> None:
        for key in ("client_email", "private_key", "token_uri"):
            if not account.get(key):
                raise ValueError(f"the service account JSON has no {key!r}")
        self.account = account
        self.scope = scope
        parts = urlsplit(account["token_uri"])
        self._pool = pool or Http1Pool(f"{parts.scheme}://{parts.netloc}", max_connections=2)
        self._path = parts.path or "/"
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token is not None and time.monotonic() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                await self._exchange()
        assert self._token is not None
        return self._token

    def invalidate(self) -> None:
        self._token = None

    async def _exchange(self) -> None:
        now = int(time.time())
        claims = {
            "iss": self.account["client_email"],
            "scope": self.scope,
            "aud": self.account["token_uri"],
            "iat": now,
            "exp": now + _LIFETIME_S,
        }
        headers = {"kid": self.account["private_key_id"]} if self.account.get("private_key_id") else None
        assertion = jwt.encode(claims, self.account["private_key"], algorithm="RS256", headers=headers)
        form = urlencode(
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        )
        try:
            response = await self._pool.request(
                "POST", self._path, [("content-type", "application/x-www-form-urlencoded")], form.encode()
            )
        except TransportError as exc:
            raise AuthError(f"token endpoint unreachable: {exc}") from None
        try:
            answer = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            answer = {}
        if response.status != 200 or not answer.get("access_token"):
            raise AuthError(f"token endpoint answered {response.status}: {answer.get('error', '')}")
        lifetime = float(answer.get("expires_in", _LIFETIME_S))
        self._token = str(answer["access_token"])
        self._expires_at = time.monotonic() + max(lifetime - _EARLY_S, lifetime / 2)

    async def aclose(self) -> None:
        await self._pool.aclose()
