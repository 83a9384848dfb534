"""ORM models, one file a table. Importing this package registers every table on Base."""

from app.models.api_key import ApiKey, KeyKind
from app.models.base import Base, TenantScoped
from app.models.campaign import Campaign, CampaignStatus
from app.models.content_exposure import ContentExposure
from app.models.delivery import Delivery, DeliveryStatus
from app.models.delivery_policy import DeliveryPolicy
from app.models.device import Device, Platform
from app.models.email_suppression import EmailSuppression
from app.models.engagement import Engagement
from app.models.event import Event
from app.models.frequency_state import FrequencyState
from app.models.idempotency_key import IdempotencyKey
from app.models.inbox_item import InboxItem
from app.models.invitation import Invitation
from app.models.journey import Journey, JourneyStatus
from app.models.journey_state import JourneyState, StateStatus
from app.models.journey_step import JourneyStep
from app.models.journey_version import JourneyVersion
from app.models.login_throttle import LoginThrottle
from app.models.membership import Membership, Role
from app.models.operator import Operator
from app.models.operator_session import OperatorSession
from app.models.preference import Preference
from app.models.provider_credential import ProviderCredential
from app.models.segment import Segment
from app.models.send import Send, SendStatus
from app.models.trigger_entry import TriggerEntry
from app.models.user import Channel, SubscriptionState, User
from app.models.user_activity_day import UserActivityDay
from app.models.user_activity_week import UserActivityWeek
from app.models.user_erasure import UserErasure
from app.models.variable import Variable
from app.models.workspace import Workspace

__all__ = [
    "ApiKey",
    "Base",
    "Campaign",
    "CampaignStatus",
    "Channel",
    "ContentExposure",
    "Delivery",
    "DeliveryPolicy",
    "DeliveryStatus",
    "Device",
    "EmailSuppression",
    "Engagement",
    "Event",
    "FrequencyState",
    "IdempotencyKey",
    "InboxItem",
    "Invitation",
    "Journey",
    "JourneyState",
    "JourneyStatus",
    "JourneyStep",
    "JourneyVersion",
    "KeyKind",
    "LoginThrottle",
    "Membership",
    "Operator",
    "OperatorSession",
    "Platform",
    "Preference",
    "ProviderCredential",
    "Role",
    "Segment",
    "Send",
    "SendStatus",
    "StateStatus",
    "SubscriptionState",
    "TenantScoped",
    "TriggerEntry",
    "User",
    "UserActivityDay",
    "UserActivityWeek",
    "UserErasure",
    "Variable",
    "Workspace",
]
