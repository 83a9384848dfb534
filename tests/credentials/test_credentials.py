import asyncio
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import text

from app.channels.base import OutboundMessage, Outcome
from app.channels.email.smtp import SmtpChannel
from app.channels.factory import build_channels
from app.channels.push.apns import ApnsChannel
from app.channels.push.fcm import FcmChannel
from app.channels.push.sandbox import PushLogChannel
from app.channels.webhook import WebhookChannel
from app.credentials.crypto import CredentialBox, CredentialsUnreadable
from app.kit.settings import Settings


def _pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
EC_PEM = _pem(ec.generate_private_key(ec.SECP256R1()))
ALL = {
    "smtp": {
        "host": "smtp.acme.test",
        "port": 587,
        "username": "apikey",
        "password": "SG.supersecretvalue1234",
        "from_email": "news@acme.test",
        "from_name": "Acme",
    },
    "fcm": {
        "service_account": {
            "type": "service_account",
            "project_id": "acme-app",
            "private_key_id": "abcdef0123456789",
            "private_key": RSA_PEM,
            "client_email": "push@acme-app.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
            "client_id": "1234",
        }
    },
    "apns": {"team_id": "TEAM123456", "key_id": "KEY7654321", "private_key": EC_PEM, "topic": "com.acme.app"},
    "webpush": {"subject": "mailto:ops@acme.test"},
    "webhook": {"url": "https://hooks.acme.test/nudge", "secret": "whsec_0123456789abcdef"},
}
SECRETS = ["SG.supersecretvalue1234", "BEGIN PRIVATE KEY", "abcdef0123456789", "whsec_0123456789abcdef"]


def test_set_and_read_back_masked_never_whole(client, tenant, owner_engine):
    for provider, values in ALL.items():
        r = client.put(f"/v1/providers/{provider}", json=values, headers=tenant.secret_headers)
        assert r.status_code == 200, (provider, r.text)
    listed = client.get("/v1/providers", headers=tenant.secret_headers)
    assert set(listed.json()) == set(ALL)
    body = listed.text + "".join(
        client.get(f"/v1/providers/{p}", headers=tenant.secret_headers).text for p in ALL
    )
    for secret in SECRETS:
        assert secret not in body
    shown = listed.json()
    assert shown["smtp"]["password"] == "…1234" and shown["smtp"]["host"] == "smtp.acme.test"
    assert shown["fcm"]["service_account"]["client_email"] == "push@acme-app.iam.gserviceaccount.com"
    assert shown["apns"]["private_key"] == "…(key set)"
    assert len(shown["webpush"]["vapid_public_key"]) == 87  # generated: 65-byte point, base64url
    with owner_engine.connect() as conn:  # at rest: nothing readable, even to the table owner
        raw = b"".join(row[0] for row in conn.execute(text("SELECT ciphertext FROM provider_credentials")))
    for secret in [*SECRETS, "smtp.acme.test", "acme-app"]:
        assert secret.encode() not in raw


def test_bad_credentials_are_a_422_naming_the_field(client, tenant):
    cases = [
        ("apns", {**ALL["apns"], "private_key": RSA_PEM}, "private_key"),
        (
            "fcm",
            {"service_account": {**ALL["fcm"]["service_account"], "private_key": "nope"}},
            "service_account.private_key",
        ),
        ("smtp", {**ALL["smtp"], "from_name": "Acme\r\nBcc: x@y.z"}, "from_name"),
        ("webhook", {"url": "not a url", "secret": "whsec_0123456789abcdef"}, "url"),
    ]
    for provider, values, field in cases:
        r = client.put(f"/v1/providers/{provider}", json=values, headers=tenant.secret_headers)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (provider, r.text)
    assert client.put("/v1/providers/sms", json={}, headers=tenant.secret_headers).status_code == 404
    assert (
        client.put("/v1/providers/smtp", json=ALL["smtp"], headers=tenant.publishable_headers).status_code
        == 403
    )
    assert client.get("/v1/providers", headers=tenant.secret_headers).json() == {}


def test_ciphertext_is_bound_to_its_workspace_and_secret(settings):
    box = CredentialBox(settings)
    a, b = uuid.uuid4(), uuid.uuid4()
    sealed = box.seal(a, "smtp", {"password": "x"})
    assert box.open(a, "smtp", sealed) == {"password": "x"}
    for workspace, provider, other_box in (
        (b, "smtp", box),
        (a, "fcm", box),
        (a, "smtp", CredentialBox(Settings(database_url=settings.database_url, secret_key="z" * 40))),
    ):
        with pytest.raises(CredentialsUnreadable):
            other_box.open(workspace, provider, sealed)


def test_another_workspace_sees_nothing(client, tenant, other_tenant):
    client.put("/v1/providers/webhook", json=ALL["webhook"], headers=tenant.secret_headers)
    assert client.get("/v1/providers", headers=other_tenant.secret_headers).json() == {}
    assert client.get("/v1/providers/webhook", headers=other_tenant.secret_headers).status_code == 404
    assert client.delete("/v1/providers/webhook", headers=other_tenant.secret_headers).status_code == 404
    assert client.delete("/v1/providers/webhook", headers=tenant.secret_headers).status_code == 204


def test_factory_builds_configured_channels(client, tenant, settings, database):
    for provider, values in ALL.items():
        client.put(f"/v1/providers/{provider}", json=values, headers=tenant.secret_headers)
    with database.transaction(tenant.workspace_id) as session:
        built = build_channels(session, settings=settings, database=database)
    assert set(built.channels) == {"email", "push", "in_app", "webhook"}
    assert isinstance(built.get("email"), SmtpChannel) and isinstance(built.get("webhook"), WebhookChannel)
    providers = built.get("push").providers
    assert isinstance(providers["fcm"], FcmChannel) and isinstance(providers["apns"], ApnsChannel)
    assert set(providers) == {"fcm", "apns", "webpush"}
    asyncio.run(built.aclose())


def test_embedded_mode_uses_the_sandbox_providers(tmp_path, database, tenant):
    embedded = Settings(
        database_url="sqlite:///" + str(tmp_path / "x.db"),
        secret_key="k" * 40,
        outbox_dir=tmp_path / "outbox",
    )
    with database.transaction(tenant.workspace_id) as session:
        built = build_channels(session, settings=embedded, database=database)
    push = built.get("push")
    assert all(isinstance(p, PushLogChannel) for p in push.providers.values())
    email_message = OutboundMessage(
        uuid.uuid4(),
        tenant.workspace_id,
        uuid.uuid4(),
        "email",
        {"email": "a@example.com"},
        {"subject": "Hi", "html": "<p>Hello</p>"},
    )
    push_message = OutboundMessage(
        uuid.uuid4(),
        tenant.workspace_id,
        uuid.uuid4(),
        "push",
        {"platform": "apns", "token": "ab"},
        {"title": "Hi"},
    )

    async def run():
        return await built.get("email").send([email_message]) + await push.send([push_message])

    results = asyncio.run(run())
    assert [r.outcome for r in results] == [Outcome.sent, Outcome.sent]
    eml = tmp_path / "outbox" / str(tenant.workspace_id) / f"{email_message.delivery_id}.eml"
    assert eml.read_bytes().startswith(b"From: ")
    assert str(push_message.delivery_id) in (tmp_path / "outbox" / "push.log").read_text()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00::1]/hook",
    ],
)
def test_webhook_urls_aimed_at_private_networks_are_refused_when_saved(client, tenant, url, api):
    body = {"url": url, "secret": "whsec_0123456789abcdef"}
    r = client.put("/v1/providers/webhook", json=body, headers=tenant.secret_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "url", r.text
    assert "non-public address" in r.json()["error"]["message"]
    assert client.get("/v1/providers", headers=tenant.secret_headers).json() == {}
    # A single-host setup may allow them.
    api.state.settings = api.state.settings.model_copy(update={"webhook_allow_private_targets": True})
    assert client.put("/v1/providers/webhook", json=body, headers=tenant.secret_headers).status_code == 200
