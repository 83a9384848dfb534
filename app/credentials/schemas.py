"""What each provider needs. Validation happens when credentials are saved (a 422 naming the
field), so a send never discovers a malformed key. ``SECRET_FIELDS`` are never shown whole."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.channels.push.webpush_crypto import VapidKey
from app.kit.validators import Email

Host = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.\-:\[\]]+$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _private_key(pem: str, kind: type) -> str:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key") from None
    if not isinstance(key, kind):
        raise ValueError(f"expected an {'RSA' if kind is rsa.RSAPrivateKey else 'EC P-256'} private key")
    return pem


class SmtpCredentials(_Strict):
    host: Host
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Text | None = None
    password: Text | None = None
    from_email: Email
    from_name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\r\n]*$")] = ""
    reply_to: Email | None = None
    pool_size: int = Field(default=8, ge=1, le=64)


class ServiceAccount(BaseModel):
    model_config = ConfigDict(extra="allow")

    project_id: Text
    client_email: Text
    private_key: str
    private_key_id: str | None = None
    token_uri: AnyHttpUrl = AnyHttpUrl("https://oauth2.googleapis.com/token")

    @field_validator("private_key")
    @classmethod
    def _rsa(cls, value: str) -> str:
        return _private_key(value, rsa.RSAPrivateKey)


class FcmCredentials(_Strict):
    service_account: ServiceAccount = Field(description="The service account JSON from the Firebase console")


class ApnsCredentials(_Strict):
    team_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")]
    key_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{10}$")]
    private_key: str = Field(description="The .p8 file's text")
    topic: Text = Field(description="The app's bundle id")
    default_environment: Literal["production", "sandbox"] = "production"

    @field_validator("private_key")
    @classmethod
    def _ec(cls, value: str) -> str:
        return _private_key(value, ec.EllipticCurvePrivateKey)


class WebPushCredentials(_Strict):
    vapid_private_key: str | None = Field(
        default=None, validate_default=True, description="Omit to have a key pair generated"
    )
    subject: Annotated[str, StringConstraints(pattern=r"^(mailto:|https://).+")]

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid(cls, value: str | None) -> str:
        if value is None:
            return VapidKey.generate().private_pem()
        try:
            return VapidKey.from_text(value).private_pem()
        except (ValueError, TypeError):
            raise ValueError("not a P-256 private key (PEM or base64url)") from None


class WebhookCredentials(_Strict):
    url: AnyHttpUrl
    secret: Annotated[str, StringConstraints(min_length=16, max_length=200)]
    timeout_s: float = Field(default=10.0, gt=0, le=30)
    attempts: int = Field(default=3, ge=1, le=5)


MODELS: dict[str, type[BaseModel]] = {
    "smtp": SmtpCredentials,
    "fcm": FcmCredentials,
    "apns": ApnsCredentials,
    "webpush": WebPushCredentials,
    "webhook": WebhookCredentials,
}
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "smtp": ("password",),
    "fcm": ("service_account.private_key", "service_account.private_key_id"),
    "apns": ("private_key",),
    "webpush": ("vapid_private_key",),
    "webhook": ("secret",),
}


def mask(provider: str, values: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to show: each secret becomes ``"…" + its last 4 characters``; the service
    account keeps only the fields that identify it."""
    shown = copy.deepcopy(values)
    for path in SECRET_FIELDS[provider]:
        *parents, leaf = path.split(".")
        holder: Any = shown
        for part in parents:
            holder = holder.get(part, {}) if isinstance(holder, dict) else {}
        if isinstance(holder, dict) and holder.get(leaf):
            secret = str(holder[leaf]).strip()
            holder[leaf] = "…" + (secret[-4:] if "-----" not in secret else "(key set)")
    if provider == "fcm":
        account = shown.get("service_account", {})
        keep = ("project_id", "client_email", "private_key", "private_key_id", "token_uri")
        shown["service_account"] = {k: account[k] for k in keep if k in account}
    if provider == "webpush" and values.get("vapid_private_key"):
        shown["vapid_public_key"] = VapidKey.from_text(values["vapid_private_key"]).public_key_b64
    return shown
