from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.campaigns.schemas import ChannelName


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHours(_Strict):
    start: dt.time = Field(description="Local wall time in each user's zone, e.g. 22:00")
    end: dt.time = Field(description="e.g. 08:00 (the window may cross midnight)")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class FrequencyCap(_Strict):
    channel: ChannelName | None = Field(default=None, description="null: messages on every channel count")
    limit: int = Field(ge=1, le=10_000)
    window_hours: float = Field(gt=0, le=24 * 31, description="Rolling window")


class DeliveryPolicyBody(_Strict):
    quiet_hours: QuietHours | None = None
    frequency_caps: list[FrequencyCap] = Field(default_factory=list, max_length=20)
    rate_per_second: int | None = Field(default=None, ge=1, le=1_000_000, description="Workspace-wide")
    channel_rates: dict[ChannelName, int] = Field(
        default_factory=dict, description="Per provider, per second"
    )

    @model_validator(mode="after")
    def _positive_rates(self) -> DeliveryPolicyBody:
        for channel, rate in self.channel_rates.items():
            if rate < 1:
                raise ValueError(f"channel_rates.{channel} must be at least 1")
        return self
