"""Signed links put into messages. Every link carries its workspace, user and delivery in a
token signed with a key of its own purpose; a click token also carries its target, so the
redirect goes only where the message said (no open redirect)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from app.kit.settings import Settings
from app.kit.signing import Signer, derive_key

OPEN, CLICK, UNSUBSCRIBE, PREFERENCES = "open", "click", "unsubscribe", "preferences"
_IDS = 48


@dataclass(frozen=True)
class LinkTarget:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    delivery_id: uuid.UUID | None
    channel: str
    category: str | None = None
    url: str | None = None


def is_trackable_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class TrackingLinks:
    def __init__(self, settings: Settings) -> None:
        self.base = str(settings.public_base_url).rstrip("/")
        self._signers = {
            p: Signer(derive_key(settings, f"link:{p}")) for p in (OPEN, CLICK, UNSUBSCRIBE, PREFERENCES)
        }

    def open_url(self, target: LinkTarget) -> str:
        return f"{self.base}/t/o/{self._sign(OPEN, target)}.gif"

    def click_url(self, target: LinkTarget, url: str) -> str:
        if not is_trackable_url(url):
            raise ValueError("only http(s) links are tracked")
        return f"{self.base}/t/c/{self._sign(CLICK, target, url=url)}"

    def unsubscribe_url(self, target: LinkTarget) -> str:
        return f"{self.base}/t/u/{self._sign(UNSUBSCRIBE, target)}"

    def preferences_url(self, workspace_id: uuid.UUID, user_id: uuid.UUID) -> str:
        target = LinkTarget(workspace_id, user_id, None, "")
        return f"{self.base}/preferences/{self._sign(PREFERENCES, target)}"

    def template_links(self, target: LinkTarget) -> dict[str, str]:
        """``unsubscribe_url`` and ``preferences_url`` for a message's render context."""
        return {
            "unsubscribe_url": self.unsubscribe_url(target),
            "preferences_url": self.preferences_url(target.workspace_id, target.user_id),
        }

    def verify(self, purpose: str, token: str) -> LinkTarget | None:
        packed = self._signers[purpose].verify(token.removesuffix(".gif"))
        if packed is None or len(packed) < _IDS:
            return None
        try:
            rest = orjson.loads(packed[_IDS:]) if len(packed) > _IDS else {}
            delivery = uuid.UUID(bytes=packed[32:48])
            return LinkTarget(
                workspace_id=uuid.UUID(bytes=packed[:16]),
                user_id=uuid.UUID(bytes=packed[16:32]),
                delivery_id=None if delivery.int == 0 else delivery,
                channel=str(rest.get("ch", "")),
                category=rest.get("cat"),
                url=rest.get("url"),
            )
        except (orjson.JSONDecodeError, AttributeError, ValueError):
            return None

    def _sign(self, purpose: str, target: LinkTarget, **extra: Any) -> str:
        """Three raw ids, then a small JSON object for the rest: short links."""
        rest: dict[str, Any] = {"ch": target.channel} if target.channel else {}
        if target.category:
            rest["cat"] = target.category
        rest.update(extra)
        delivery = target.delivery_id.bytes if target.delivery_id else bytes(16)
        packed = target.workspace_id.bytes + target.user_id.bytes + delivery
        return self._signers[purpose].sign(packed + (orjson.dumps(rest) if rest else b""))
