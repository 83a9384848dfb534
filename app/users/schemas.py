from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.kit.schemas import RequestModel
from app.kit.validators import (
    Country,
    Email,
    ExternalId,
    Latitude,
    Locale,
    Longitude,
    Phone,
    ShortText,
    TimeZoneName,
)
from app.users.attributes import AttributeChanges

ChannelName = Literal["email", "push", "in_app"]
State = Literal["subscribed", "unsubscribed"]
Scalar = str | int | float | bool

RESERVED_FIELDS = (
    "email",
    "phone",
    "timezone",
    "locale",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "first_name",
    "last_name",
)


class ProfileFields(RequestModel):
    """Reserved fields. Omitted: unchanged; ``null``: cleared."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    phone: Phone | None = None
    timezone: TimeZoneName | None = Field(default=None, description="IANA name, e.g. 'Asia/Kathmandu'")
    locale: Locale | None = None
    country: Country | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    first_name: ShortText | None = None
    last_name: ShortText | None = None

    def reserved_changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RESERVED_FIELDS if name in self.model_fields_set}


class UserUpsert(ProfileFields):
    attributes: dict[str, JsonValue] = Field(
        default_factory=dict, description="Merged into the user's attributes; null deletes a key."
    )
    add: dict[str, list[Scalar]] = Field(default_factory=dict, description="Add values to list attributes.")
    remove: dict[str, list[Scalar]] = Field(
        default_factory=dict, description="Remove values from list attributes."
    )
    increment: dict[str, int | float] = Field(default_factory=dict, description="Add to numeric attributes.")
    subscriptions: dict[ChannelName, State] = Field(default_factory=dict)

    def attribute_changes(self) -> AttributeChanges:
        return AttributeChanges(
            set=dict(self.attributes), add=self.add, remove=self.remove, increment=self.increment
        )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    external_id: str
    email: str | None
    phone: str | None
    timezone: str | None
    locale: str | None
    country: str | None
    region: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    first_name: str | None
    last_name: str | None
    attributes: dict[str, Any]
    subscriptions: dict[ChannelName, State]
    first_seen_at: datetime
    last_seen_at: datetime
    created_at: datetime
    updated_at: datetime


class UserReceipt(BaseModel):
    """The answer to a publishable key: the profile is for secret keys only."""

    external_id: str


class UserPage(BaseModel):
    data: list[UserOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null at the end.")


class ErasureOut(BaseModel):
    external_id: ExternalId
    erased: bool
    events: int
    devices: int


class UserUpsertWithId(UserUpsert):
    external_id: ExternalId
