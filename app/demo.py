"""Demo data: a workspace that looks like a real app's, for trying every screen and query."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.devices import service as devices
from app.devices.schemas import ApnsDevice, FcmDevice, WebPushDevice, WebPushKeys, WebPushSubscription
from app.events import service as events
from app.events.schemas import EventIn
from app.models.base import utcnow
from app.users import service as users
from app.users.attributes import AttributeChanges

# (zone, country, locale, city) across every offset family, including +05:45, +12:45, -09:30.
PLACES = [
    ("America/Los_Angeles", "US", "en-US", "Los Angeles"),
    ("America/Denver", "US", "en-US", "Denver"),
    ("America/Chicago", "US", "en-US", "Chicago"),
    ("America/New_York", "US", "en-US", "New York"),
    ("America/Sao_Paulo", "BR", "pt-BR", "São Paulo"),
    ("America/St_Johns", "CA", "en-CA", "St. John's"),
    ("Europe/London", "GB", "en-GB", "London"),
    ("Europe/Berlin", "DE", "de-DE", "Berlin"),
    ("Europe/Paris", "FR", "fr-FR", "Paris"),
    ("Europe/Madrid", "ES", "es-ES", "Madrid"),
    ("Europe/Istanbul", "TR", "tr-TR", "Istanbul"),
    ("Africa/Lagos", "NG", "en-NG", "Lagos"),
    ("Asia/Dubai", "AE", "ar-AE", "Dubai"),
    ("Asia/Kolkata", "IN", "hi-IN", "Mumbai"),
    ("Asia/Kathmandu", "NP", "ne-NP", "Kathmandu"),
    ("Asia/Bangkok", "TH", "th-TH", "Bangkok"),
    ("Asia/Shanghai", "CN", "zh-CN", "Shanghai"),
    ("Asia/Tokyo", "JP", "ja-JP", "Tokyo"),
    ("Australia/Adelaide", "AU", "en-AU", "Adelaide"),
    ("Australia/Sydney", "AU", "en-AU", "Sydney"),
    ("Australia/Lord_Howe", "AU", "en-AU", "Lord Howe Island"),
    ("Pacific/Auckland", "NZ", "en-NZ", "Auckland"),
    ("Pacific/Chatham", "NZ", "en-NZ", "Waitangi"),
    ("Pacific/Kiritimati", "KI", "en-KI", "Kiritimati"),
    ("Pacific/Marquesas", "PF", "fr-PF", "Taiohae"),
    ("Pacific/Honolulu", "US", "en-US", "Honolulu"),
]
FIRST_NAMES = [
    "Ada",
    "Bruno",
    "Chen",
    "Dara",
    "Emeka",
    "Freya",
    "Gita",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemal",
    "Lena",
]
PLANS = ["free", "free", "free", "pro", "pro", "team"]
ITEMS = ["sneakers", "backpack", "headphones", "water bottle", "jacket", "notebook"]


def fill(session: Session, *, users_count: int = 3000, days: int = 30, seed: int = 7) -> dict[str, int]:
    """Create users with devices and ``days`` of events in the session's workspace."""
    rng = random.Random(seed)
    now = utcnow()
    event_count = device_count = 0
    for n in range(users_count):
        zone, country, locale, city = PLACES[n % len(PLACES)]
        external_id = f"demo-{n:05d}"
        signed_up = now - timedelta(days=rng.uniform(0, 365))
        name = rng.choice(FIRST_NAMES)
        users.upsert(
            session,
            external_id,
            profile={
                "email": f"{name.lower()}.{n}@example.com",
                "timezone": zone,
                "country": country,
                "locale": locale,
                "city": city,
                "first_name": name,
            },
            changes=AttributeChanges(
                set={
                    "plan": rng.choice(PLANS),
                    "age": rng.randint(18, 70),
                    "signed_up_at": signed_up.isoformat(),
                    "newsletter": rng.random() < 0.4,
                }
            ),
        )
        device_count += _devices(session, external_id, rng)
        tracked = list(_events(external_id, rng, now, days))
        events.ingest(session, [events.to_tracked(e, now) for e in tracked], now)
        event_count += len(tracked)
    return {"users": users_count, "devices": device_count, "events": event_count}


def _devices(session: Session, external_id: str, rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.45:
        devices.register(session, external_id, FcmDevice(platform="fcm", token=uuid.uuid4().hex * 2))
    elif roll < 0.85:
        devices.register(session, external_id, ApnsDevice(platform="apns", token=uuid.uuid4().hex * 2))
    elif roll < 0.95:
        sub = WebPushSubscription(
            endpoint=f"https://push.example.com/send/{uuid.uuid4().hex}",  # type: ignore[arg-type]
            keys=WebPushKeys(p256dh="B" + uuid.uuid4().hex * 2, auth=uuid.uuid4().hex[:22]),
        )
        devices.register(session, external_id, WebPushDevice(platform="webpush", subscription=sub))
    else:
        return 0
    return 1


def _events(external_id: str, rng: random.Random, now: datetime, days: int) -> Iterator[EventIn]:
    activity = rng.random()
    for day in range(days):
        if rng.random() > activity:
            continue
        at = now - timedelta(days=day, hours=rng.uniform(0, 23))
        yield EventIn(user_id=external_id, name="app_open", timestamp=at)
        if rng.random() < 0.3:
            item = rng.choice(ITEMS)
            yield EventIn(
                user_id=external_id,
                name="add_to_cart",
                timestamp=at + timedelta(minutes=2),
                properties={"item": item},
            )
            if rng.random() < 0.5:
                yield EventIn(
                    user_id=external_id,
                    name="purchase",
                    timestamp=at + timedelta(minutes=9),
                    properties={"item": item, "value": round(rng.uniform(5, 250), 2), "currency": "EUR"},
                )
