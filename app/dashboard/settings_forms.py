"""The settings page's delivery rules and provider credentials as forms, read into the same
bodies the API takes (``DeliveryPolicyBody``, the credentials models).

Secrets are write-only: their inputs are always empty, and an input left empty keeps the
stored secret (a VAPID key in particular: replacing it would orphan every browser
subscription). Inputs are named ``<provider>.<field>`` so several forms share one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.credentials.schemas import MODELS, SECRET_FIELDS
from app.dashboard.forms import FormErrors, errors_by_path
from app.delivery.schemas import DeliveryPolicyBody

CAP_SLOTS = 5  # blank rows offered beyond the caps already set
CHANNELS = (
    ("", "Any channel"),
    ("email", "Email"),
    ("push", "Push"),
    ("in_app", "In-app"),
    ("webhook", "Webhook"),
)


@dataclass(frozen=True)
class Input:
    name: str
    label: str
    kind: str = "text"  # text, number, select, secret (one line), secret_text (a key or a JSON file)
    options: tuple[tuple[str, str], ...] = ()
    help: str | None = None

    @property
    def secret(self) -> bool:
        return self.kind.startswith("secret")


@dataclass(frozen=True)
class Provider:
    key: str
    title: str
    inputs: tuple[Input, ...]


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "smtp",
        "Email (SMTP)",
        (
            Input("host", "Host"),
            Input("port", "Port", "number"),
            Input(
                "security", "Security", "select", (("starttls", "STARTTLS"), ("tls", "TLS"), ("none", "None"))
            ),
            Input("username", "User name"),
            Input("password", "Password", "secret"),
            Input("from_email", "From address"),
            Input("from_name", "From name"),
            Input("reply_to", "Reply-to address"),
        ),
    ),
    Provider(
        "fcm",
        "Android push (FCM)",
        (Input("service_account", "Service account JSON", "secret_text", help="From the Firebase console."),),
    ),
    Provider(
        "apns",
        "iOS push (APNs)",
        (
            Input("team_id", "Team id"),
            Input("key_id", "Key id"),
            Input("private_key", "Private key (.p8 text)", "secret_text"),
            Input("topic", "Bundle id"),
            Input(
                "default_environment",
                "Environment",
                "select",
                (("production", "Production"), ("sandbox", "Sandbox")),
            ),
        ),
    ),
    Provider(
        "webpush",
        "Web Push (VAPID)",
        (
            Input("subject", "Subject", help="mailto: or https: address push services may contact."),
            Input(
                "vapid_private_key",
                "VAPID private key",
                "secret_text",
                help="Leave empty to keep the current key, or to have one made the first time.",
            ),
        ),
    ),
    Provider(
        "webhook",
        "Webhook",
        (
            Input("url", "URL"),
            Input("secret", "Signing secret", "secret", help="At least 16 characters."),
            Input("timeout_s", "Timeout, seconds", "number"),
            Input("attempts", "Attempts", "number"),
        ),
    ),
)
BY_KEY = {provider.key: provider for provider in PROVIDERS}


def credentials_from_form(provider: Provider, form: FormData, stored: dict[str, Any] | None) -> Any:
    """The provider's validated credentials; empty secret inputs keep ``stored`` secrets."""
    document: dict[str, Any] = {}
    for field in provider.inputs:
        raw = form.get(f"{provider.key}.{field.name}")
        text = raw.strip() if isinstance(raw, str) else ""
        if field.secret and text == "":
            if stored and field.name in stored:
                document[field.name] = stored[field.name]
            continue
        if text == "":
            continue
        document[field.name] = _json_file(provider, field, text) if field.name == "service_account" else text
    try:
        return MODELS[provider.key].model_validate(document)
    except ValidationError as exc:
        errors = errors_by_path(exc, document).errors
        raise FormErrors({_input_of(provider, path): message for path, message in errors.items()}) from None


def _json_file(provider: Provider, field: Input, text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FormErrors({f"{provider.key}.{field.name}": "Not valid JSON."}) from None


def _input_of(provider: Provider, path: str) -> str:
    """An error inside a nested value (``service_account.private_key``) marks its input."""
    top = path.split(".")[0].split("[")[0]
    names = {field.name for field in provider.inputs}
    return f"{provider.key}.{top}" if top in names else f"{provider.key}.form"


def shown_values(provider: Provider, masked: dict[str, Any] | None) -> dict[str, Any]:
    """Inputs filled from the stored (masked) values; secret inputs stay empty."""
    secrets = {path.split(".")[0] for path in SECRET_FIELDS[provider.key]}
    return {
        f"{provider.key}.{name}": value
        for name, value in (masked or {}).items()
        if name not in secrets and not isinstance(value, dict)
    }


def echoed(provider: Provider, form: FormData) -> dict[str, Any]:
    """A refused form's values to show again, without the secrets typed into it."""
    secret = {f"{provider.key}.{f.name}" for f in provider.inputs if f.secret}
    return {k: v for k, v in form.items() if k.startswith(f"{provider.key}.") and k not in secret}


def policy_from_form(form: FormData, current: DeliveryPolicyBody) -> DeliveryPolicyBody:
    """Quiet hours and caps from the form; the workspace's send rates stay as they are."""
    document: dict[str, Any] = {
        "rate_per_second": current.rate_per_second,
        "channel_rates": dict(current.channel_rates),
        "frequency_caps": [],
    }
    start, end = _text(form, "quiet_hours.start"), _text(form, "quiet_hours.end")
    if start or end:
        document["quiet_hours"] = {"start": start, "end": end}
    rows: list[int] = []  # the form row of each cap
    for slot in range(cap_rows(current)):
        cap = {
            name: _text(form, f"frequency_caps[{slot}].{name}")
            for name in ("channel", "limit", "window_hours")
        }
        if not cap["limit"] and not cap["window_hours"]:
            continue  # an unused row
        document["frequency_caps"].append({**cap, "channel": cap["channel"] or None})
        rows.append(slot)
    try:
        return DeliveryPolicyBody.model_validate(document)
    except ValidationError as exc:
        raise _at_rows(errors_by_path(exc, document), rows) from None


def cap_rows(policy: DeliveryPolicyBody) -> int:
    return len(policy.frequency_caps) + CAP_SLOTS


def _at_rows(errors: FormErrors, rows: list[int]) -> FormErrors:
    """Blank rows are skipped, so caps are renumbered; errors go back to the row typed in."""
    moved: dict[str, str] = {}
    for path, message in errors.errors.items():
        if path.startswith("frequency_caps[") and "]" in path:
            index = int(path[len("frequency_caps[") : path.index("]")])
            path = f"frequency_caps[{rows[index]}]" + path[path.index("]") + 1 :]
        moved.setdefault(path if path != "frequency_caps" else "form", message)
    return FormErrors(moved)


def policy_values(policy: DeliveryPolicyBody) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if policy.quiet_hours:
        values["quiet_hours.start"] = policy.quiet_hours.start.strftime("%H:%M")
        values["quiet_hours.end"] = policy.quiet_hours.end.strftime("%H:%M")
    for slot, cap in enumerate(policy.frequency_caps):
        values[f"frequency_caps[{slot}].channel"] = cap.channel or ""
        values[f"frequency_caps[{slot}].limit"] = cap.limit
        values[f"frequency_caps[{slot}].window_hours"] = f"{cap.window_hours:g}"
    return values


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
