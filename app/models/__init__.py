"""ORM models, one file a table. Importing this package registers every table on Base."""

from app.models.api_key import ApiKey, KeyKind
from app.models.base import Base, TenantScoped
from app.models.device import Device, Platform
from app.models.event import Event
from app.models.idempotency_key import IdempotencyKey
from app.models.segment import Segment
from app.models.user import Channel, SubscriptionState, User
from app.models.user_activity_day import UserActivityDay
from app.models.user_erasure import UserErasure
from app.models.workspace import Workspace

__all__ = [
    "ApiKey",
    "Base",
    "Channel",
    "Device",
    "Event",
    "IdempotencyKey",
    "KeyKind",
    "Platform",
    "Segment",
    "SubscriptionState",
    "TenantScoped",
    "User",
    "UserActivityDay",
    "UserErasure",
    "Workspace",
]
