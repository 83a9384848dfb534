from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator

from app.kit.schemas import RequestModel

Token = Annotated[str, StringConstraints(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")]
Base64Url = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9_\-]+=*$")]


class _Strict(RequestModel):
    model_config = ConfigDict(extra="forbid")


class FcmDevice(_Strict):
    platform: Literal["fcm"]
    token: Token
    app_version: str | None = Field(default=None, max_length=50)


class ApnsDevice(_Strict):
    platform: Literal["apns"]
    token: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64,200}$")] = Field(
        description="The device token as hex"
    )
    environment: Literal["sandbox", "production"] = "production"
    app_version: str | None = Field(default=None, max_length=50)


class WebPushKeys(_Strict):
    p256dh: Base64Url
    auth: Base64Url


class WebPushSubscription(_Strict):
    endpoint: HttpUrl
    keys: WebPushKeys

    @field_validator("endpoint")
    @classmethod
    def _https(cls, value: HttpUrl) -> HttpUrl:
        if value.scheme != "https":
            raise ValueError("a Web Push endpoint must be an https URL")
        return value


class WebPushDevice(_Strict):
    platform: Literal["webpush"]
    subscription: WebPushSubscription
    app_version: str | None = Field(default=None, max_length=50)


DeviceIn = Annotated[FcmDevice | ApnsDevice | WebPushDevice, Field(discriminator="platform")]


class DeviceRef(_Strict):
    platform: Literal["fcm", "apns", "webpush"]
    token: Annotated[str, StringConstraints(min_length=8, max_length=4096)] = Field(
        description="The token, or for Web Push the subscription endpoint"
    )


class DeviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    platform: str
    token: str
    apns_environment: str | None
    app_version: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
