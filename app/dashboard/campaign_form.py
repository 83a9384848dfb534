"""The composer's form and the campaign document (the API's JSON body) in both directions.

Inputs are named by the document path they fill (``variants[1].content.subject``,
``schedule.time``), so the API's 422 field paths and the services' ``field`` name the input
to mark without a translation table.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from app.campaigns.schemas import CampaignCreate
from app.dashboard.forms import errors_by_path
from app.models import Campaign

# The content inputs each channel shows, in order; other channels' inputs are ignored.
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "preheader", "html", "text"),
    "push": ("title", "body", "image", "deep_link"),
    "in_app": ("title", "body", "image", "deep_link"),
    "webhook": ("url", "body"),
}
VARIANT_SLOTS = 16  # the API's limit
VARIANT_KEYS = "ABCDEFGHIJKLMNOP"
SCHEDULE_FIELDS: dict[str, tuple[str, ...]] = {
    "immediate": (),
    "at": ("at",),
    "local": ("date", "time", "past_zones", "grace_minutes"),
    "recurring": (
        "frequency",
        "weekdays",
        "day_of_month",
        "time",
        "local",
        "start_date",
        "end_date",
        "past_zones",
        "grace_minutes",
    ),
    "triggered": ("event", "delay_minutes", "at_local_time", "expiry_minutes", "reentry", "reentry_days"),
    "optimal": ("date", "fallback_time", "past_zones", "grace_minutes"),
}
LIMIT_FIELDS = ("per_minute", "expire_after_minutes", "quiet_hours")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _put(target: dict[str, Any], key: str, value: str) -> None:
    if value != "":
        target[key] = value


def document_from_form(form: FormData) -> dict[str, Any]:
    """The campaign body the form describes; blank inputs are left out so defaults apply."""
    channel = _text(form, "channel") or "email"
    document: dict[str, Any] = {"name": _text(form, "name"), "channel": channel}
    document["variants"] = _variants(form, channel)
    _put(document, "control_percent", _text(form, "control_percent"))
    document["audience"] = _audience(form)
    document["schedule"] = _schedule(form)
    limits: dict[str, Any] = {}
    for name in LIMIT_FIELDS:
        _put(limits, name, _text(form, f"limits.{name}"))
    limits["frequency_cap_exempt"] = form.get("limits.frequency_cap_exempt") == "on"
    document["limits"] = limits
    goal_event = _text(form, "goal.event")
    if goal_event:
        goal = {"event": goal_event}
        _put(goal, "window_hours", _text(form, "goal.window_hours"))
        document["goal"] = goal
    return document


def _variants(form: FormData, channel: str) -> list[dict[str, Any]]:
    variants: list[dict[str, Any]] = []
    for slot in range(VARIANT_SLOTS):
        prefix = f"variants[{slot}]"
        content: dict[str, Any] = {}
        for name in CONTENT_FIELDS[channel]:
            raw = form.get(f"{prefix}.content.{name}")
            if isinstance(raw, str) and raw.strip():
                content[name] = raw  # templates keep their own whitespace
        if slot > 0 and not content:
            continue  # an unused slot, not an empty variant
        variant: dict[str, Any] = {
            "key": _text(form, f"{prefix}.key") or VARIANT_KEYS[slot],
            "content": content,
        }
        _put(variant, "weight", _text(form, f"{prefix}.weight"))
        variants.append(variant)
    return variants


def _audience(form: FormData) -> dict[str, Any]:
    kind = _text(form, "audience.type") or "all"
    if kind == "users":
        ids = [line.strip() for line in _text(form, "audience.external_ids").splitlines() if line.strip()]
        return {"type": "users", "external_ids": ids}
    if kind == "segment":
        return {"type": "segment", "segment_id": _text(form, "audience.segment_id")}
    return {"type": kind}


def _schedule(form: FormData) -> dict[str, Any]:
    kind = _text(form, "schedule.type") or "immediate"
    schedule: dict[str, Any] = {"type": kind}
    for name in SCHEDULE_FIELDS.get(kind, ()):
        if name == "weekdays":
            schedule[name] = [int(day) for day in form.getlist("schedule.weekdays") if str(day).isdigit()]
        elif name == "local":
            schedule[name] = form.get("schedule.local") != "utc"
        else:
            _put(schedule, name, _text(form, f"schedule.{name}"))
    if kind == "at" and "at" in schedule and len(schedule["at"]) == 16:
        schedule["at"] += ":00+00:00"  # a datetime-local input, read as UTC
    return schedule


def validate(document: dict[str, Any]) -> CampaignCreate:
    """The document as the API would read it; raises FormErrors keyed by input name."""
    try:
        return CampaignCreate.model_validate(document)
    except ValidationError as exc:
        raise errors_by_path(exc, document) from None


def shown_slots(values: dict[str, Any]) -> int:
    """Variant slots the composer opens: those in use and one more (the rest stay hidden
    until "Add variant")."""
    used = [
        s
        for s in range(VARIANT_SLOTS)
        if any(k.startswith(f"variants[{s}].content.") and v for k, v in values.items())
    ]
    return min(VARIANT_SLOTS, max(used, default=0) + 2)


def values_from_document(document: dict[str, Any]) -> dict[str, Any]:
    """Input name -> value, to fill the form again (from a stored campaign or a refused form)."""
    values: dict[str, Any] = {
        "name": document.get("name", ""),
        "channel": document.get("channel", "email"),
        "control_percent": document.get("control_percent", ""),
    }
    for slot, variant in enumerate(document.get("variants") or []):
        values[f"variants[{slot}].key"] = variant.get("key", "")
        values[f"variants[{slot}].weight"] = variant.get("weight", "")
        for name, value in (variant.get("content") or {}).items():
            values[f"variants[{slot}].content.{name}"] = value
    audience = document.get("audience") or {"type": "all"}
    values["audience.type"] = audience.get("type", "all")
    values["audience.external_ids"] = "\n".join(audience.get("external_ids") or [])
    values["audience.segment_id"] = audience.get("segment_id", "")
    schedule = document.get("schedule") or {"type": "immediate"}
    for name, value in schedule.items():
        values[f"schedule.{name}"] = value
    if schedule.get("type") == "at" and isinstance(schedule.get("at"), str):
        values["schedule.at"] = schedule["at"][:16]
    if schedule.get("local") is False:
        values["schedule.local"] = "utc"
    for name, value in (document.get("limits") or {}).items():
        values[f"limits.{name}"] = value
    for name, value in (document.get("goal") or {}).items():
        values[f"goal.{name}"] = value
    return {name: "" if value is None else value for name, value in values.items()}


def document_of(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "channel": campaign.channel,
        "audience": campaign.audience,
        "variants": campaign.variants,
        "control_percent": campaign.control_percent,
        "schedule": campaign.schedule,
        "limits": campaign.limits,
        "goal": campaign.goal,
    }
