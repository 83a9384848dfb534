"""The shape of in-app content (checked when content is saved) and of inbox answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Colour = Annotated[str, StringConstraints(pattern=r"^#(?:[0-9a-fA-F]{3}){1,2}$")]
Short = Annotated[str, StringConstraints(max_length=200)]


class Button(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    action: Literal["deep_link", "dismiss"] = "dismiss"
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class Colours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    background: Colour = "#ffffff"
    text: Colour = "#111111"
    button: Colour = "#3b5bdb"
    button_text: Colour = "#ffffff"


class InAppContent(BaseModel):
    """``trigger``: the event that shows the message (e.g. ``app_open``); none shows it at once."""

    model_config = ConfigDict(extra="forbid")

    layout: Literal["banner", "modal", "full_screen"] = "modal"
    title: Short = ""
    body: Annotated[str, StringConstraints(max_length=4000)] = ""
    image: Annotated[str, StringConstraints(max_length=2000)] | None = None
    buttons: list[Button] = Field(default_factory=list, max_length=3)
    colours: Colours = Field(default_factory=Colours)
    trigger: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    expires_in_s: int | None = Field(default=None, ge=60, le=90 * 24 * 3600)
    data: dict[str, Any] = Field(default_factory=dict)


class InboxItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    content: dict[str, Any]
    trigger: str | None
    created_at: datetime
    expires_at: datetime | None
    read_at: datetime | None


class InboxPage(BaseModel):
    data: list[InboxItemOut]
    unread: int
