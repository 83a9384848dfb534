"""The channel-neutral push content every provider maps from.

Content keys: ``title``, ``body``, ``image`` (URL), ``deep_link`` (URL or app route),
``data`` (flat object of custom values), ``badge`` (int), ``sound``, ``ttl_s`` (int),
``collapse_key``."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from app.models.base import utcnow

MAX_TTL_S = 28 * 24 * 3600


@dataclass(frozen=True, slots=True)
class PushContent:
    title: str = ""
    body: str = ""
    image: str | None = None
    deep_link: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    badge: int | None = None
    sound: str | None = None
    ttl_s: int | None = None
    collapse_key: str | None = None

    @classmethod
    def from_content(cls, content: dict[str, Any]) -> PushContent:
        ttl = content.get("ttl_s")
        badge = content.get("badge")
        return cls(
            title=str(content.get("title") or ""),
            body=str(content.get("body") or ""),
            image=content.get("image") or None,
            deep_link=content.get("deep_link") or None,
            data={str(k): _text(v) for k, v in (content.get("data") or {}).items()},
            badge=int(badge) if badge not in (None, "") else None,
            sound=content.get("sound") or None,
            ttl_s=max(0, min(int(ttl), MAX_TTL_S)) if ttl not in (None, "") else None,
            collapse_key=content.get("collapse_key") or None,
        )


def _text(value: Any) -> str:
    """FCM data values must be strings; others are sent as their JSON-ish text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def retry_after_s(value: str | None, default: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - utcnow()).total_seconds())
    except (TypeError, ValueError):
        return default
